"""labbook's agent inside a VM: PID 1, serving the host over a virtio-serial port.

Runs with the host's own python3 (the guest's root file system is the host's, read
only, under a private overlay) and the few standard modules that are quick to import
under emulation. One dictionary per line each way, marshalled and base64-encoded (a
line is self-delimiting, so a reader that joins mid-stream finds the next whole
message): the host sends ``{"id": N, "op": ..., ...}``
and gets back exactly one ``{"id": N, ...}`` per request, in order. The host may
disconnect and another process may connect later (``labbook exec`` on a lab that
``labbook up`` left running): the agent, its shells and their processes carry on.
"""

# The C module under `signal`: the same functions, without importing enum (slow in a VM).
import _signal as signal
import binascii
import fcntl
import marshal
import os
import select
import struct
import sys
import termios
import time

PORT_NAME = "lb.ctl"
CHUNK = 1 << 16
#: Exit status and marker of a command that ran past its timeout (as timeout(1) does).
TIMED_OUT = 124

children: dict = {}  # pid -> exit status (None while running) of processes the agent waits for


def reap(*_):
    """Collect every exited child: ours (status kept) and orphans (PID 1's duty)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children[pid] = os.waitstatus_to_exitcode(status)


def exit_code(pid):
    code = children.pop(pid, None)
    if code is None:
        return 255
    return 128 - code if code < 0 else code


def descendants(pid):
    """Every process below ``pid`` in the guest."""
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid):
    """SIGKILL ``pid``'s process group and everything below it, also what left the group."""
    victims = descendants(pid)
    quietly(os.killpg, pid, signal.SIGKILL)
    for p in [pid, *victims]:
        quietly(os.kill, p, signal.SIGKILL)


def quietly(call, *args):
    """``call(*args)``, ignoring OSError (contextlib would cost an import at every boot)."""
    try:  # noqa: SIM105
        call(*args)
    except OSError:
        pass


def wait_exit(pid, seconds):
    deadline = time.monotonic() + seconds
    while children.get(pid) is None and pid in children and time.monotonic() < deadline:
        time.sleep(0.01)
        reap()


def spawn(argv, env, cwd, stdin, stdout, stderr):
    """fork + exec in a new session (its own process group, so it can be killed whole)."""
    # SIGCHLD waits until the pid is registered, or a quick exit would lose its status.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            _exec_child(argv, env, cwd, (stdin, stdout, stderr), held)
        children[pid] = None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return pid


def _exec_child(argv, env, cwd, fds, mask):
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"{argv[0]}: {exc.strerror}\n".encode())
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
    os._exit(127)


# -- one-shot commands ------------------------------------------------------------------
def op_exec(req):
    """Run argv (no shell); stdout and stderr apart; killed whole at the timeout."""
    stdin_path = None
    if req.get("input") is not None:
        stdin_path = f"/run/.labbook-stdin-{req['id']}"
        with open(stdin_path, "wb") as f:
            f.write(req["input"])
    stdin = os.open(stdin_path or os.devnull, os.O_RDONLY)
    if stdin_path:
        os.unlink(stdin_path)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = spawn(req["argv"], req["env"], req.get("cwd", "/root"), stdin, out_w, err_w)
    finally:
        for fd in (stdin, out_w, err_w):
            os.close(fd)
    bufs = {out_r: bytearray(), err_r: bytearray()}
    timed_out = collect(bufs, req.get("timeout"), pid)
    for fd in bufs:
        os.close(fd)
    if timed_out:
        children.pop(pid, None)
        return {
            "rc": TIMED_OUT,
            "out": bytes(bufs[out_r]),
            "err": bytes(bufs[err_r]),
            "timed_out": True,
        }
    wait_exit(pid, 3600)
    return {"rc": exit_code(pid), "out": bytes(bufs[out_r]), "err": bytes(bufs[err_r])}


def collect(bufs, timeout, pid):
    """Read the pipes in ``bufs`` to their end; True if the timeout came first (tree killed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    open_fds = list(bufs)
    while open_fds:
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            kill_tree(pid)
            return True
        ready, _, _ = select.select(open_fds, [], [], wait)
        for fd in ready:
            chunk = os.read(fd, CHUNK)
            if chunk:
                bufs[fd] += chunk
            else:
                open_fds.remove(fd)
    return False


# -- persistent shells ------------------------------------------------------------------
class Shell:
    """bash reading commands from a pipe, writing to a pty (as the host's PtySession)."""

    def __init__(self, argv, env, cwd, columns):
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # keep "\n" as "\n"
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        in_r, in_w = os.pipe()
        try:
            self.pid = spawn(argv, env, cwd, in_r, slave, slave)
        finally:
            os.close(in_r)
            os.close(slave)
        self.fd = master
        self.stdin = in_w
        self.token = os.urandom(6).hex()
        self.marker = b"\x1eLB" + self.token.encode() + b" "
        self.begin = b"\x1eLB" + self.token.encode() + b"B\x1e"

    def run(self, command, timeout):
        # as the host's PtySession: a begin mark (what comes before it is the shell's
        # notices of jobs that ended since), the status and the last background job's pid
        script = (
            f"printf '\\036LB{self.token}B\\036'; {{ {command}\n}} </dev/null; "
            f"printf '\\036LB{self.token} %d %s\\036' $? \"$!\"\n"
        )
        try:
            os.write(self.stdin, script.encode())
        except OSError:
            return {"rc": 255, "out": b"", "ended": True}
        deadline = None if timeout is None else time.monotonic() + timeout
        buf = bytearray()
        scan = 0  # the marker is looked for only from here: reading stays linear
        while True:
            found = self._finished(buf, scan)
            scan = max(0, len(buf) - len(self.marker) - 4)
            if found is not None:
                return {"rc": found[0], "out": self._begun(found[1]), "bg": found[2]}
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                self.close()
                out = self._begun(bytes(buf))
                return {"rc": TIMED_OUT, "out": out, "timed_out": True, "ended": True}
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, CHUNK)
            except OSError:  # EIO: the shell and everything holding the pty are gone
                chunk = b""
            if not chunk:
                wait_exit(self.pid, 5)
                rc = exit_code(self.pid)
                self.close()
                return {"rc": rc, "out": self._begun(bytes(buf)), "ended": True}
            buf += chunk

    def _finished(self, buf, scan):
        start = buf.find(self.marker, scan)
        if start < 0:
            return None
        end = buf.find(b"\x1e", start + len(self.marker))
        if end < 0:
            return None
        rc, _, bg = bytes(buf[start + len(self.marker) : end]).partition(b" ")
        return int(rc), bytes(buf[:start]), bg.decode()

    def _begun(self, out):
        """``out`` from the begin mark on (all of it if the command never started)."""
        at = out.find(self.begin)
        return out if at < 0 else out[at + len(self.begin) :]

    def close(self):
        kill_tree(self.pid)
        for fd in (self.fd, self.stdin):
            quietly(os.close, fd)
        wait_exit(self.pid, 5)
        children.pop(self.pid, None)


shells: dict = {}


def op_open(req):
    old = shells.pop(req["sid"], None)
    if old is not None:
        old.close()
    shells[req["sid"]] = Shell(
        req["argv"], req["env"], req.get("cwd", "/root"), req.get("columns", 160)
    )
    return {}


def op_run(req):
    shell = shells.get(req["sid"])
    if shell is None:
        return {"rc": 255, "out": b"", "ended": True}
    res = shell.run(req["cmd"], req.get("timeout"))
    if res.get("ended"):
        shells.pop(req["sid"], None)
    return res


def op_close(req):
    shell = shells.pop(req["sid"], None)
    if shell is not None:
        shell.close()
    return {}


# -- files --------------------------------------------------------------------------------
def op_put(req):
    path = req["path"]
    os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
    mode = req.get("mode")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644 if mode is None else mode)
    with os.fdopen(fd, "wb") as f:
        f.write(req["data"])
        if mode is not None:
            os.fchmod(fd, mode)
        if req.get("owner"):
            os.fchown(fd, *ids(req["owner"]))
    return {}


def ids(owner):
    import grp
    import pwd

    user, _, group = owner.partition(":")
    entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    if not group:
        return entry.pw_uid, entry.pw_gid
    return entry.pw_uid, int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def op_get(req):
    try:
        with open(req["path"], "rb") as f:
            return {"data": f.read()}
    except FileNotFoundError:
        return {"missing": True}


# -- the node's identity and network ----------------------------------------------------
def op_config(req):
    """Hostname, files, NIC names (by MAC), then ``ip -batch`` and sysctls."""
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write(req["hostname"])
    for path, text in req.get("files", []):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    rename_nics(req.get("nics", {}))
    batch = req.get("ip", "")
    if batch:
        res = op_exec(
            {
                "id": req["id"],
                "argv": ["ip", "-batch", "-"],
                "env": ENV,
                "timeout": 60,
                "input": batch.encode(),
            }
        )
        if res["rc"] != 0:
            return {
                "error": res["err"].decode(errors="replace").strip()
                or f"ip -batch failed with status {res['rc']}"
            }
    for key, value in req.get("sysctls", []):
        path = "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as exc:
            return {"error": f"cannot set sysctl {key}={value}: {exc.strerror}"}
    return {}


def rename_nics(wanted):
    """Give each NIC (found by MAC) its name from the spec; through temporary names, so
    that swapping eth0 and eth1 works."""
    by_mac = {}
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/address") as f:
                by_mac[f.read().strip()] = name
        except OSError:
            continue
    moves = [
        (by_mac[mac], new) for mac, new in wanted.items() if mac in by_mac and by_mac[mac] != new
    ]
    for i, (old, _) in enumerate(moves):
        ip("link", "set", "dev", old, "name", f"lbtmp{i}")
    for i, (_, new) in enumerate(moves):
        ip("link", "set", "dev", f"lbtmp{i}", "name", new)
    missing = sorted(set(wanted) - set(by_mac))
    if missing:
        raise OSError(f"no network card with MAC {', '.join(missing)}")


def ip(*args):
    res = op_exec({"id": 0, "argv": ["ip", *args], "env": ENV, "timeout": 30})
    if res["rc"] != 0:
        raise OSError(res["err"].decode(errors="replace").strip())


ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}

OPS = {
    "hello": lambda req: {"pid": os.getpid()},
    "exec": op_exec,
    "open": op_open,
    "run": op_run,
    "close": op_close,
    "put": op_put,
    "get": op_get,
    "config": op_config,
}


# -- the channel ----------------------------------------------------------------------------
def find_port():
    base = "/sys/class/virtio-ports"
    for entry in os.listdir(base):
        try:
            with open(f"{base}/{entry}/name") as f:
                if f.read().strip() == PORT_NAME:
                    return f"/dev/{entry}"
        except OSError:
            continue
    raise SystemExit(f"labbook agent: no virtio port named {PORT_NAME}")


class Channel:
    """Lines from and to the host; survives the host disconnecting and coming back."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.buf = bytearray()
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLIN)

    def lines(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl])
                del self.buf[: nl + 1]
                yield line
                continue
            events = self.poll.poll()[0][1]
            chunk = os.read(self.fd, CHUNK) if events & select.POLLIN else b""
            if chunk:
                self.buf += chunk
            else:  # nobody connected on the host side: wait for the next one
                self.buf.clear()
                time.sleep(0.05)

    def send(self, obj):
        data = binascii.b2a_base64(marshal.dumps(obj, 4))
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def handle(req):
    try:
        res = OPS[req["op"]](req)
    except Exception as exc:  # the agent must survive any request
        res = {"error": f"{type(exc).__name__}: {exc}"}
    res["id"] = req.get("id")
    return res


def main():
    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    chan = Channel(find_port())
    with open("/proc/uptime") as f:
        up = f.read().split()[0]
    print(f"labbook agent: ready {up} s after boot", file=sys.stderr, flush=True)
    for line in chan.lines():
        try:
            req = marshal.loads(binascii.a2b_base64(line))
        except (ValueError, EOFError, TypeError, binascii.Error):
            continue
        chan.send(handle(req))


if __name__ == "__main__":
    main()
