"""Writes that never leave a partial file and never overwrite an input."""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import sys
import tempfile

from .paths import split_inner, suffix_of

__all__ = ["atomic_write", "check_not_input"]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _writer_tag():
    """``host-pid`` of this process: a pid says nothing about a writer on another host (NFS)."""
    import socket

    host = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0]) or "host"
    return f"{host}-{os.getpid()}"


def _remove_stale_temporaries(folder, base):
    """Temporaries of ``base`` left by a killed writer of this host (its pid is in the name and gone).

    An old Zarr folder moved aside (``.old``) by a writer killed before it put the new one in place
    is moved back when ``base`` is missing: it is the user's last complete output.
    """
    prefix = "." + base + "."
    host = _writer_tag().rpartition("-")[0]
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        if not n.startswith(prefix) or ".part" not in n:
            continue
        their_host, _, pid = n[len(prefix):].split(".", 1)[0].rpartition("-")
        if their_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            p = os.path.join(folder, n)
            target = os.path.join(folder, base)
            if n.endswith(".old") and os.path.isdir(p) and not os.path.lexists(target):
                os.replace(p, target)
                continue
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else _silent_remove(p)


def _mode_for(path):
    """Permissions of the file replacing ``path``: those of the file it replaces, else 0666 less the umask."""
    try:
        if os.path.isfile(path):
            return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    return 0o666 & ~_umask()


def _umask():
    """This process's umask, read without changing it where the system says it (Linux 4.7 on)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and put back at once
    os.umask(mask)
    return mask


def _silent_remove(p):
    try:
        os.remove(p)
    except OSError:
        pass


def _fsync(path):
    """Flush a file, or every file of a folder (Zarr), and the folder itself, to disk."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for n in files:
                _fsync_one(os.path.join(root, n))
    _fsync_one(path)


def _fsync_one(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a, b):
    """Swap paths ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported.

    Replacing a folder takes two renames otherwise, and between them the old output is only a
    temporary.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc before 2.28, or another libc
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    # a failed call changed nothing (EINVAL on a file system without it, ENOSYS or EPERM in a sandbox):
    # the two renames then do it
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextlib.contextmanager
def atomic_write(path, suffix=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A failure (exception, interrupt) removes the temporary file, so ``path`` is either
    the complete new file or untouched. The file and its folder are fsynced around the rename;
    temporaries of a writer that was killed are removed by the next write to the same path from the
    same host (a temporary of another host on a shared folder may belong to a live writer there).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: folder {folder!r} does not exist")
    base = os.path.basename(path)
    _remove_stale_temporaries(folder, base)
    suffix = suffix if suffix is not None else suffix_of(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{_writer_tag()}.", suffix=".part" + suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        if os.path.isfile(tmp):  # mkstemp made it private (0600): give it what any file written here would get
            os.chmod(tmp, _mode_for(path))
        _fsync(tmp)
        if os.path.isdir(tmp) and os.path.isdir(path):  # a Zarr folder: replace the old one
            if _exchange(tmp, path):  # one step: the new folder in place, the old one at tmp
                shutil.rmtree(tmp, ignore_errors=True)
            else:  # two renames; a writer killed between them leaves ".old", put back by the next write
                old = tmp + ".old"
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_one(folder)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


def check_not_input(out, inputs, what="output"):
    """Refuse an ``out`` path that is one of ``inputs`` (files, ``file.h5/inner`` allowed): nothing is lost."""
    o = os.path.realpath(split_inner(os.fspath(out))[0])
    for src in inputs:
        if src is None:
            continue
        s = os.path.realpath(split_inner(os.fspath(src))[0])
        if o == s or (os.path.exists(o) and os.path.exists(s) and os.path.samefile(o, s)):
            raise ValueError(f"{what} {os.fspath(out)!r} is an input ({os.fspath(src)!r}): refused, it would be "
                             "overwritten; choose another path")
    return out
