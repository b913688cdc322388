"""The transport-free core of a call: settings, planning, request building, retry, SSE, finishing.

Nothing here imports an HTTP library or asyncio; both transports (:mod:`mistral_lite._http`)
run the same pure steps around their own I/O.
"""
