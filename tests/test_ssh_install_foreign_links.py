"""``ssh-config --install`` as root for a home owned by another user: never through a foreign link.

Run as root (the test machine is): the home belongs to a test uid; links and files that lead outside
the home or belong to root must be refused with a message, untouched (content and mode); a dotfiles
link the user owns keeps working.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codelab_ext.errors import CodeLabError
from codelab_ext.ssh_install import install_ssh_config, uninstall_ssh_config

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to own files as another uid"
)

USER = 54321
ROOT_TEXT = b"# root's own file\nHost root-only\n  HostName 10.0.0.1\n"


def _block() -> str:
    from .test_ssh import block_for

    return block_for()


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    os.chmod(home / ".ssh", 0o700)
    for path in (home, home / ".ssh"):
        os.chown(path, USER, USER)
    return home


def _root_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ROOT_TEXT)
    os.chmod(path, 0o644)
    os.chown(path, 0, 0)
    return path


def _unchanged(path: Path) -> None:
    info = path.stat()
    assert path.read_bytes() == ROOT_TEXT
    assert stat.S_IMODE(info.st_mode) == 0o644 and info.st_uid == 0


def test_config_linking_to_a_root_file_outside_the_home_is_refused(tmp_path):
    home = _home(tmp_path)
    outside = _root_file(tmp_path / "etc" / "ssh_config")
    (home / ".ssh" / "config").symlink_to(outside)
    os.lchown(home / ".ssh" / "config", USER, USER)  # the link is the user's; its target is not
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(_block(), home=home)
    assert "outside the home" in info.value.message and info.value.status == 409
    _unchanged(outside)
    assert not (home / ".ssh" / "config.d" / "codelab").exists()  # nothing written at all


def test_managed_file_linking_to_a_root_file_is_refused(tmp_path):
    home = _home(tmp_path)
    (home / ".ssh" / "config.d").mkdir()
    os.chown(home / ".ssh" / "config.d", USER, USER)
    target = _root_file(home / "shared" / "codelab")  # inside the home, but root's
    (home / ".ssh" / "config.d" / "codelab").symlink_to(target)
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(_block(), home=home)
    assert "belongs to another user" in info.value.message
    _unchanged(target)


def test_a_root_owned_config_in_the_users_home_is_neither_written_nor_chmodded(tmp_path):
    home = _home(tmp_path)
    config = _root_file(home / ".ssh" / "config")
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(_block(), home=home)
    assert "belongs to another user" in info.value.message and "mode" in info.value.message
    _unchanged(config)
    with pytest.raises(CodeLabError):
        uninstall_ssh_config(home=home)
    _unchanged(config)


def test_an_ssh_folder_linking_outside_the_home_is_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, USER, USER)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / ".ssh").symlink_to(elsewhere)
    with pytest.raises(CodeLabError) as info:
        install_ssh_config(_block(), home=home)
    assert "outside the home" in info.value.message
    assert list(elsewhere.iterdir()) == []


def test_a_dotfiles_link_the_user_owns_still_works(tmp_path):
    home = _home(tmp_path)
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "ssh_config"
    target.write_bytes(b"Host mine\n  HostName 10.0.0.2\n")
    for path in (dotfiles, target):
        os.chown(path, USER, USER)
    os.chmod(target, 0o600)
    (home / ".ssh" / "config").symlink_to(target)
    managed = install_ssh_config(_block(), home=home)
    assert (home / ".ssh" / "config").is_symlink()
    assert target.read_bytes().startswith(b"Include ") and b"Host mine" in target.read_bytes()
    assert target.stat().st_uid == USER and managed.stat().st_uid == USER
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert uninstall_ssh_config(home=home)
    assert target.read_bytes() == b"Host mine\n  HostName 10.0.0.2\n"
