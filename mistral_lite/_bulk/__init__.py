"""Bulk runs and batch: one JSONL file of requests, live through a client or through the batch API, resumable.

Every piece of batch lives here, lowest first (each module imports only those above it):

* :mod:`~mistral_lite._bulk.jsonl`: the JSONL line reader every JSONL file goes through, and the
  files of a run (input scan, output writer, resume scan, the output's lock);
* :mod:`~mistral_lite._bulk.pacer`: requests and tokens per minute, and the in-flight window;
* :mod:`~mistral_lite._bulk.prepare`: the arguments and the input checked, the output opened;
  the progress both engines count in;
* :mod:`~mistral_lite._bulk.jobs`: ``run_batch`` (the batch API as one call) and the batch API's
  rules (limits, terminal states, result files);
* :mod:`~mistral_lite._bulk.live` (threads) and :mod:`~mistral_lite._bulk.batch` (batch jobs):
  the engines of ``run_jsonl``; :mod:`~mistral_lite._bulk.run` chooses one for ``Client``,
  :mod:`~mistral_lite._bulk.aio` for ``AsyncClient`` (asyncio is imported there only).

Nothing here imports a transport: the engines call the client they are given.
"""
