if __name__ != "livecart.chat":  # one importable name: docs/architecture.md, "Packaging"
    raise ImportError(f"{__name__}: this folder is the package livecart.chat; import that")
