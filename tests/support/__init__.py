"""Helpers shared by the test modules (not tests themselves).

* :mod:`tests.support.server_config`: ``jp_server_config`` builders for a server pointed at the emulator;
* :mod:`tests.support.processes`: REAL ``jupyter server`` / emulator subprocesses, log capture, secret scans;
* :mod:`tests.support.cli`: running ``jupyter codelab`` as a subprocess;
* :mod:`tests.support.fake_upstream`: a scripted local HTTP server for client unit tests;
* :mod:`tests.support.sse`: a server-sent-events reader; :mod:`tests.support.sshd`: a real sshd on loopback;
* :mod:`tests.support.sdk`: Huawei's official SDK, the oracle of the contract tests.
"""
