"""What a client offers on top of ``call``: the generated methods, raw responses and helpers that compose calls."""
