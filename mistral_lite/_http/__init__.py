"""The transports: requests (sync, :class:`Stream`), aiohttp (:class:`AsyncClient`), threads, realtime.

The only modules of the package that import an HTTP library.
"""
