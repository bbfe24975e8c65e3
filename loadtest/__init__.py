if __name__ != "livecart.loadtest":  # one importable name: docs/architecture.md, "Packaging"
    raise ImportError(f"{__name__}: this folder is the package livecart.loadtest; import that")
