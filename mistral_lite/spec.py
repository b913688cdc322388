"""``python -m mistral_lite.spec``: the maintainer tool :mod:`mistral_lite._dev.spec`, under its public name."""

from mistral_lite._dev.spec import main

if __name__ == "__main__":
    raise SystemExit(main())
