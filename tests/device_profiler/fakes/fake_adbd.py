"""A fake ``adbd`` (the phone's side of adb) on 127.0.0.1, so that the *real* ``adb`` binary
(platform-tools 36, shipped in the PyPI package adbutils) can ``adb connect`` to it.

It speaks the ADB wire protocol (24-byte little-endian message headers: CNXN, AUTH, OPEN, OKAY,
WRTE, CLSE; version 0x01000001, so no checksums) with one-packet-in-flight flow control, the
``shell:`` service without shell protocol v2 (so, as on old phones, ``adb shell`` exits 0 and
mixes stderr into stdout: the remote exit status must travel in the output), and the v1 ``sync:``
service (STAT, SEND/DATA/DONE, RECV, QUIT) for push and pull. Shell commands run with a real
``sh -c`` in a device root directory, exactly like the fake ``adb`` (fakes/adb): ``/data``,
``/sys`` and ``/sdcard`` are mapped into the root and ``/system/bin`` comes first on ``PATH``.

``authorized=False`` answers CNXN with an AUTH token and never accepts a signature, which the
real adb reports as ``unauthorized``. ``stop()`` closes every connection: the phone is lost.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import struct
import subprocess
import threading

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = 0x4E584E43, 0x4E45504F, 0x59414B4F, 0x45534C43, 0x45545257, 0x48545541
VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
MAPPED = re.compile(r"(?<![\w./-])(/data|/sys|/sdcard)(?=[/'\"\s;&|)]|$)")


class _Conn:
    def __init__(self, daemon: FakeAdbd, sock: socket.socket):
        self.d, self.sock = daemon, sock
        self.wlock = threading.Lock()
        self.streams: dict[int, queue.Queue] = {}
        self.next_id = 1
        self.online = False

    def send(self, cmd, a0, a1, data=b""):
        hdr = struct.pack("<6I", cmd, a0, a1, len(data), 0, cmd ^ 0xFFFFFFFF)
        with self.wlock:
            self.sock.sendall(hdr + data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def serve(self):
        try:
            while True:
                cmd, a0, a1, n, _crc, _magic = struct.unpack("<6I", self.recv_exact(24))
                data = self.recv_exact(n) if n else b""
                if cmd == A_CNXN:
                    if self.d.authorized:
                        self.online = True
                        self.send(A_CNXN, VERSION, MAX_PAYLOAD, self.d.banner())
                    else:
                        self.send(A_AUTH, 1, 0, os.urandom(20))  # TOKEN; no signature is ever accepted
                elif cmd == A_AUTH:
                    if a0 == 2:  # SIGNATURE: refuse, ask again
                        self.send(A_AUTH, 1, 0, os.urandom(20))
                    # RSAPUBLICKEY (3): a real phone shows the prompt now; nobody accepts it
                elif cmd == A_OPEN and self.online:
                    local = self.next_id
                    self.next_id += 1
                    q: queue.Queue = queue.Queue()
                    self.streams[local] = q
                    service = data.rstrip(b"\0").decode()
                    threading.Thread(target=self.run_service, args=(service, local, a0, q), daemon=True).start()
                elif cmd in (A_OKAY, A_WRTE, A_CLSE) and a1 in self.streams:
                    self.streams[a1].put((cmd, data))
                    if cmd == A_WRTE:
                        self.send(A_OKAY, a1, a0)
        except (ConnectionError, OSError, struct.error):
            pass
        finally:
            for q in self.streams.values():
                q.put((A_CLSE, b""))
            try:
                self.sock.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ stream helpers
    def _wait(self, q, want):
        while True:
            cmd, data = q.get()
            if cmd == want:
                return data
            if cmd == A_CLSE:
                raise ConnectionError("stream closed")

    def write(self, local, remote, q, payload: bytes):
        for i in range(0, len(payload), MAX_PAYLOAD):
            self.send(A_WRTE, local, remote, payload[i:i + MAX_PAYLOAD])
            self._wait(q, A_OKAY)

    def run_service(self, service, local, remote, q):
        try:
            self.send(A_OKAY, local, remote)
            if service.startswith("shell:"):
                self.shell(service[len("shell:"):], local, remote, q)
            elif service == "sync:":
                self.sync(local, remote, q)
            else:
                self.write(local, remote, q, f"FAIL: unknown service {service}".encode())
            self.send(A_CLSE, local, remote)
        except (ConnectionError, OSError):
            pass
        finally:
            self.streams.pop(local, None)

    def shell(self, command, local, remote, q):
        root = self.d.root
        with open(os.path.join(root, ".fake", "shell.log"), "a") as fh:
            fh.write(command + "\n")
        mapped = MAPPED.sub(lambda m: root + m.group(1), command)
        env = {"PATH": f"{root}/system/bin:/usr/bin:/bin", "FAKE_DEVICE_ROOT": root, "HOME": root, "LANG": "C"}
        p = subprocess.run(["sh", "-c", mapped], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.write(local, remote, q, p.stdout)

    # ------------------------------------------------------------------ sync (v1)
    def sync(self, local, remote, q):
        buf = bytearray()

        def need(n):
            while len(buf) < n:
                buf.extend(self._wait(q, A_WRTE))
            out = bytes(buf[:n])
            del buf[:n]
            return out

        def reply(payload):
            self.write(local, remote, q, payload)

        while True:
            ident, length = struct.unpack("<4sI", need(8))
            if ident == b"QUIT":
                return
            if ident == b"DONE":
                continue
            arg = need(length).decode()
            if ident == b"STAT":
                path = self.d.host_path(arg)
                try:
                    st = os.stat(path)
                    reply(struct.pack("<4sIII", b"STAT", st.st_mode, st.st_size, int(st.st_mtime)))
                except OSError:
                    reply(struct.pack("<4sIII", b"STAT", 0, 0, 0))
            elif ident == b"SEND":
                remote_path, _, mode = arg.rpartition(",")
                data = bytearray()
                while True:
                    sub, n = struct.unpack("<4sI", need(8))
                    if sub == b"DATA":
                        data.extend(need(n))
                    elif sub == b"DONE":
                        break
                    else:
                        raise ConnectionError("bad sync SEND")
                if not os.path.normpath(remote_path).startswith(("/data/", "/sdcard/")):
                    msg = b"couldn't create file: Read-only file system"
                    reply(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                    continue
                target = self.d.host_path(remote_path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as fh:
                    fh.write(data)
                os.chmod(target, int(mode) & 0o777 if mode.isdigit() else 0o644)
                reply(struct.pack("<4sI", b"OKAY", 0))
            elif ident == b"RECV":
                path = self.d.host_path(arg)
                if not os.path.isfile(path):
                    msg = b"No such file or directory"
                    reply(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                    continue
                with open(path, "rb") as fh:
                    content = fh.read()
                out = bytearray()
                for i in range(0, len(content), 64 * 1024):
                    chunk = content[i:i + 64 * 1024]
                    out += struct.pack("<4sI", b"DATA", len(chunk)) + chunk
                out += struct.pack("<4sI", b"DONE", 0)
                reply(bytes(out))
            elif ident in (b"LIST", b"STA2", b"LST2"):
                msg = b"not supported by the fake"
                reply(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
            else:
                raise ConnectionError(f"unknown sync request {ident!r}")


class FakeAdbd:
    """A phone reachable as ``127.0.0.1:PORT`` (after ``adb connect``)."""

    def __init__(self, root: str, props: dict[str, str], authorized: bool = True):
        self.root, self.props, self.authorized = str(root), props, authorized
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[_Conn] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def banner(self) -> bytes:
        p = self.props
        return (f"device::ro.product.name={p.get('ro.product.name', 'panther')};"
                f"ro.product.model={p.get('ro.product.model', 'Pixel 7').replace(' ', '_')};"
                f"ro.product.device={p.get('ro.product.device', 'panther')};features=cmd\0").encode()

    def host_path(self, remote: str) -> str:
        norm = os.path.normpath("/" + remote.lstrip("/"))
        return os.path.join(self.root, norm.lstrip("/"))

    def _accept(self):
        while not self._stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            c = _Conn(self, s)
            self.conns.append(c)
            threading.Thread(target=c.serve, daemon=True).start()

    def stop(self):
        """The phone goes away: the listener and every connection close."""
        self._stopped = True
        for s in [self.sock, *[c.sock for c in self.conns]]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


__all__ = ["FakeAdbd"]
