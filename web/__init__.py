if __name__ != "livecart.web":  # one importable name: docs/architecture.md, "Packaging"
    raise ImportError(f"{__name__}: this folder is the package livecart.web; import that")
