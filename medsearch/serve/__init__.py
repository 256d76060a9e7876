"""The web server: a FastAPI app over one open index, and the static search page in ``static/``.

``medsearch.serve.app.create_app(index)`` builds the app (needs the ``serve`` extra); the CLI's
``medsearch serve`` opens the index and runs it with uvicorn.
"""
