"""Root pytest configuration: the Jupyter server fixtures of pytest-jupyter.

pytest-jupyter runs ``async def`` tests itself; pytest-asyncio is deliberately not used.
Fixtures for the emulator and the client live in ``tests/conftest.py``; the server
fixtures that point codelab_ext at them live in ``tests/support/server_config.py``.
"""

pytest_plugins = ["pytest_jupyter.jupyter_server"]
