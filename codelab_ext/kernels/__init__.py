"""Remote kernels: local notebooks run on the CodeLab instance's kernels (design.md §8).

* :mod:`.provisioner` — the ``codelab`` kernel provisioner (entry point group
  ``jupyter_client.kernel_provisioners``): start, interrupt, restart and shutdown over the instance's
  Jupyter REST API;
* :mod:`.bridge` — local ZMQ kernel channels joined to the instance's kernel websocket (reconnects
  and session resume);
* :mod:`.remote` — the instance's Jupyter REST API and websocket, with deadlines and size caps;
* :mod:`.specs` — the instance's kernelspecs as this server's ``codelab-<name>`` kernelspecs;
* :mod:`.instances` — the instance behind a kernel (ModelArts) and its working folder.
"""
