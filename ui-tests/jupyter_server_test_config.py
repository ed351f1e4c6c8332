"""JupyterLab server for the CodeLab UI tests: the embedded ModelArts emulator, no auth, a throwaway root
whose folder "work" holds the demo's two sample notebooks.

Written for this project after the settings Galata expects (port 8888, no token, the app exposed in the
browser as ``window.jupyterapp``). It also works from a source tree that was built (``jlpm build``) but not
``pip install``-ed: the package and its labextension are then found in the repository.
"""

import os
import sys
import tempfile
from pathlib import Path

import jupyterlab
from jupyter_core.paths import jupyter_path

c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = Path(tempfile.mkdtemp(prefix="codelab-ui-tests-"))
# A home of its own: "Install SSH config" writes ~/.ssh of the server's user, never the real one.
(WORK / "home").mkdir()
os.environ["HOME"] = str(WORK / "home")

# --- Jupyter server, as Galata wants it -------------------------------------------------------
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = str(WORK / "root")
c.ServerApp.allow_root = True
c.ServerApp.disable_check_xsrf = True
c.IdentityProvider.token = ""
c.ServerApp.password = ""
c.LabApp.expose_app_in_browser = True
c.LabServerApp.workspaces_dir = str(WORK / "workspaces")
# the settings the tests write for real (the interface language: JupyterLab's server translates the
# settings schemas in the language saved there), never the user's own
c.LabServerApp.user_settings_dir = str(WORK / "user-settings")
c.LabApp.news_url = None  # no "notified about Jupyter news?" toast in screenshots
# Galata's in-browser helpers ship with JupyterLab itself.
extra_labextensions = [str(Path(jupyterlab.__file__).parent / "galata")]
Path(c.ServerApp.root_dir).mkdir(parents=True)

# --- CodeLab on the emulator --------------------------------------------------------------------
c.CodeLab.emulator = True
c.CodeLab.emulator_speed = float(os.environ.get("CODELAB_EMULATOR_SPEED", "20"))
# the browser tests time the panel: no real Jupyter server behind the instances unless asked
# (CODELAB_EMULATOR_INSTANCE_SERVERS=1); `make demo` and the pytest suite cover the real ones
c.CodeLab.emulator_instance_servers = os.environ.get("CODELAB_EMULATOR_INSTANCE_SERVERS", "0") == "1"
c.CodeLab.credentials_file = str(WORK / "credentials.json")
c.ServerApp.jpserver_extensions = {"codelab_ext": True}

# --- a built but not installed source tree --------------------------------------------------------
try:
    import codelab_ext  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO))

# --- the folder the file browser and the launcher show: "work" (as in a CodeLab instance) with the demo's
# sample notebooks, the same in every test and screenshot (not a folder named after each test)
from codelab_ext.demo import write_sample_notebooks  # noqa: E402

(Path(c.ServerApp.root_dir) / "work").mkdir()
write_sample_notebooks(Path(c.ServerApp.root_dir) / "work")

if not any((Path(p) / "codelab-ext").exists() for p in jupyter_path("labextensions")):
    built = REPO / "codelab_ext" / "labextension"
    if built.exists():
        extra = WORK / "labextensions"
        extra.mkdir()
        (extra / "codelab-ext").symlink_to(built, target_is_directory=True)
        extra_labextensions.append(str(extra))

c.LabServerApp.extra_labextensions_path = extra_labextensions
