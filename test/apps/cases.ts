// The real-application cases: what a user does with these programs in a container, each a shell
// script run by Debian's /bin/sh in the apps rootfs (read-only) with tmpfs mounts where the
// programs write. A case passes when it exits 0 and its output has every line `expect` names.

export interface AppCase {
  name: string;
  /** The script (`sh -c`). */
  script: string;
  /** Lines (regular expressions) the output must contain. */
  expect: RegExp[];
  /** tmpfs mounts beyond the common ones (/tmp, /run, /root, /var/log). */
  tmpfs?: string[];
  /** Seconds before the run is killed (the sentry's ptrace costs ~10x on start-up-heavy programs). */
  timeout?: number;
  /** Needs the loopback interface (TCP/UDP on 127.0.0.1). */
  loopback?: boolean;
}

const py = (code: string) => `python3 - <<'EOF'\n${code}\nEOF`;
const node = (code: string) => `node - <<'EOF'\n${code}\nEOF`;

export const CASES: AppCase[] = [
  {
    name: 'python3: start and standard imports',
    script: py(`import sys, os, re, json, collections, hashlib, datetime, decimal, pathlib, tempfile
print("python", sys.version_info[0], hashlib.sha256(b"moat").hexdigest()[:8])`),
    expect: [/^python 3 [0-9a-f]{8}$/m],
  },
  {
    name: 'python3: json round trip of a file',
    script: py(`import json
d = {"n": list(range(1000)), "s": "é\\u2603", "nested": {"a": [1, 2, {"b": None}]}}
with open("/tmp/d.json", "w") as f: json.dump(d, f)
with open("/tmp/d.json") as f: print("equal", json.load(f) == d)`),
    expect: [/^equal True$/m],
  },
  {
    name: 'python3: sqlite3 module on a file',
    script: py(`import sqlite3
c = sqlite3.connect("/tmp/t.db")
c.execute("create table t (k integer primary key, v text)")
c.executemany("insert into t (v) values (?)", [(str(i),) for i in range(5000)])
c.commit()
print("rows", c.execute("select count(*), sum(k) from t").fetchone())`),
    expect: [/^rows \(5000, 12502500\)$/m],
  },
  {
    name: 'python3: subprocess',
    script: py(`import subprocess
r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
print("rc", r.returncode, r.stdout.strip(), r.stderr.strip())`),
    expect: [/^rc 3 out err$/m],
  },
  {
    name: 'python3: threading with a queue',
    script: py(`import threading, queue
q = queue.Queue(); out = []
def work():
    while (i := q.get()) is not None: out.append(i * i)
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for i in range(1000): q.put(i)
for _ in ts: q.put(None)
for t in ts: t.join()
print("sum", sum(out))`),
    expect: [/^sum 332833500$/m],
  },
  {
    name: 'python3: multiprocessing Pool(2).map',
    script: py(`import multiprocessing
def sq(x): return x * x
if __name__ == "__main__":
    with multiprocessing.Pool(2) as p: print("pool", sum(p.map(sq, range(100))))`),
    expect: [/^pool 328350$/m],
    timeout: 60,
  },
  {
    name: 'python3: asyncio event loop',
    script: py(`import asyncio
async def f(i):
    await asyncio.sleep(0.01 * i); return i
async def main():
    print("gathered", sum(await asyncio.gather(*(f(i) for i in range(10)))))
asyncio.run(main())`),
    expect: [/^gathered 45$/m],
  },
  {
    name: 'python3: socketpair',
    script: py(`import socket
a, b = socket.socketpair()
a.sendall(b"x" * 100000); a.shutdown(socket.SHUT_WR)
n = 0
while (d := b.recv(65536)): n += len(d)
print("received", n)`),
    expect: [/^received 100000$/m],
  },
  {
    name: 'python3: http.server and urllib over 127.0.0.1',
    script: py(`import http.server, threading, urllib.request, os
os.makedirs("/tmp/www", exist_ok=True); open("/tmp/www/index.html", "w").write("hello from http.server")
h = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory="/tmp/www", **k)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
threading.Thread(target=s.serve_forever, daemon=True).start()
for _ in range(3): body = urllib.request.urlopen(f"http://127.0.0.1:{s.server_port}/index.html", timeout=10).read().decode()
print(body); s.shutdown()`),
    expect: [/^hello from http\.server$/m],
    loopback: true,
  },
  {
    name: 'python3: asyncio TCP server, 50 concurrent clients that half-close and read the reply to EOF',
    script: py(`import asyncio
async def handle(r, w):
    data = await r.read()  # to the client's half-close
    w.write(b"got %d" % len(data)); await w.drain(); w.close()
async def client(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"x" * (997 * i)); await w.drain(); w.write_eof()
    reply = await r.read(); w.close()
    return reply == b"got %d" % (997 * i)
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=64)
    port = srv.sockets[0].getsockname()[1]
    ok = await asyncio.wait_for(asyncio.gather(*(client(port, i) for i in range(50))), 60)
    print("replies", sum(ok)); srv.close(); await srv.wait_closed()
asyncio.run(main())`),
    expect: [/^replies 50$/m],
    timeout: 90,
    loopback: true,
  },
  {
    name: 'clients that time out: python3 socket timeout and curl --max-time against a server that never answers',
    script: `python3 - <<'EOF' &
import os, socket, time
srv = socket.create_server(("127.0.0.1", 8099), backlog=8)  # listens, never accepts or answers
c = socket.create_connection(("127.0.0.1", 8099), timeout=0.5)
t = time.monotonic()
try:
    c.recv(1); print("no timeout")
except socket.timeout:
    print("python timed out", 0.4 <= time.monotonic() - t < 5, flush=True)
open("/tmp/ready", "w").close()
for _ in range(300):
    if os.path.exists("/tmp/done"): break
    time.sleep(0.1)
EOF
i=0; until [ -e /tmp/ready ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done
curl -sS --max-time 1 http://127.0.0.1:8099/ 2>/dev/null; echo "curl exit $?"; touch /tmp/done; wait`,
    expect: [/^python timed out True$/m, /^curl exit 28$/m],
    timeout: 60,
    loopback: true,
  },
  {
    name: 'python3: a listening TCP socket passed to a worker process over AF_UNIX (SCM_RIGHTS) serves a client',
    script: py(`import os, socket
parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
pid = os.fork()
if pid == 0:
    parent.close()
    _, fds, _, _ = socket.recv_fds(child, 16, 1)
    srv = socket.socket(fileno=fds[0])
    c, _ = srv.accept()
    c.sendall(b"served by worker " + c.recv(16)); c.close()
    os._exit(0)
srv = socket.create_server(("127.0.0.1", 0))
port = srv.getsockname()[1]
socket.send_fds(parent, [b"L"], [srv.fileno()]); srv.close()
cl = socket.create_connection(("127.0.0.1", port), timeout=20)
cl.sendall(b"hello"); print(cl.recv(64).decode())
print("worker exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))`),
    expect: [/^served by worker hello$/m, /^worker exit 0$/m],
    loopback: true,
  },
  {
    name: 'node: -e compute',
    script: `node -e 'let s = 0n; for (let i = 0n; i < 100000n; i++) s += i * i; console.log("sum", s.toString())'`,
    expect: [/^sum 333328333350000$/m],
  },
  {
    name: 'node: fs',
    script: node(`const fs = require('fs');
fs.mkdirSync('/tmp/n/a/b', { recursive: true });
for (let i = 0; i < 100; i++) fs.writeFileSync('/tmp/n/a/b/f' + i, 'x'.repeat(i));
let total = 0; for (const f of fs.readdirSync('/tmp/n/a/b')) total += fs.statSync('/tmp/n/a/b/' + f).size;
fs.renameSync('/tmp/n/a/b/f1', '/tmp/n/a/moved'); fs.rmSync('/tmp/n/a/b', { recursive: true });
console.log('bytes', total, fs.readdirSync('/tmp/n/a').join(','));`),
    expect: [/^bytes 4950 moved$/m],
  },
  {
    name: 'node: child_process',
    script: node(`const cp = require('child_process');
console.log('sync', cp.execFileSync('sh', ['-c', 'echo $((6*7))']).toString().trim());
cp.exec('echo $((6*9)) | tr 4 2', (e, out) => console.log('async', e ? e.code : 'ok', JSON.stringify(out)));`),
    expect: [/^sync 42$/m, /^async ok "52\\n"$/m],
  },
  {
    name: 'node: http server and client over 127.0.0.1',
    script: node(`const http = require('http');
const s = http.createServer((q, r) => r.end('hello ' + q.url)).listen(0, '127.0.0.1', async () => {
  const get = () => new Promise((ok) => http.get({ host: '127.0.0.1', port: s.address().port, path: '/x' }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => ok(b)); }));
  const all = await Promise.all([1, 2, 3, 4, 5].map(get));
  console.log(all[4], all.length); s.close();
});`),
    expect: [/^hello \/x 5$/m],
    loopback: true,
  },
  {
    name: 'node: worker_threads',
    script: node(`const { Worker } = require('worker_threads');
const w = new Worker('const { parentPort } = require("worker_threads"); parentPort.on("message", (n) => { let s = 0; for (let i = 0; i < n; i++) s += i; parentPort.postMessage(s); });', { eval: true });
w.on('message', (s) => { console.log('worker', s); w.terminate(); });
w.postMessage(1000000);`),
    expect: [/^worker 499999500000$/m],
  },
  {
    name: 'perl: file IO one-liners',
    script: `seq 1 1000 > /tmp/n.txt && perl -ne '$s += $_; END { print "sum $s\\n" }' /tmp/n.txt && perl -pi -e 's/^(\\d+)$/n$1/' /tmp/n.txt && perl -e 'open(F, "<", "/tmp/n.txt") or die; my @l = <F>; print "last $l[-1]"'`,
    expect: [/^sum 500500$/m, /^last n1000$/m],
  },
  {
    name: 'ruby: file IO one-liners',
    script: `ruby -e 'File.write("/tmp/r.txt", (1..1000).map(&:to_s).join("\\n")); puts "sum #{File.readlines("/tmp/r.txt").sum(&:to_i)}"; puts "json #{require "json"; JSON.parse(JSON.dump({"a" => [1, 2]}))["a"].sum}"'`,
    expect: [/^sum 500500$/m, /^json 3$/m],
  },
  {
    name: 'gcc: compile and run hello.c',
    script: `cd /tmp && cat > hello.c <<'EOF'
#include <stdio.h>
int main(void) { printf("hello %d\\n", 6 * 7); return 0; }
EOF
gcc -O2 -o hello hello.c && ./hello`,
    expect: [/^hello 42$/m],
    timeout: 90,
  },
  {
    name: 'git: init, add, commit, log',
    script: `cd /tmp && git init -q repo && cd repo && git config user.email u@example.com && git config user.name User && echo one > a && git add a && git commit -qm first && echo two >> a && git commit -qam second && git log --oneline | wc -l && git show HEAD:a | tail -1`,
    expect: [/^2$/m, /^two$/m],
  },
  {
    name: 'sqlite3 CLI',
    script: `sqlite3 /tmp/c.db 'create table t(x); insert into t values (1), (2), (3);' && sqlite3 /tmp/c.db 'select "total", sum(x) from t;'`,
    expect: [/^total\|6$/m],
  },
  {
    name: 'nginx serving a file to curl over 127.0.0.1',
    script: `mkdir -p /tmp/www /var/log/nginx && echo 'served by nginx' > /tmp/www/index.html && cat > /tmp/nginx.conf <<'EOF'
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 64; }
http { access_log off; server { listen 127.0.0.1:8080; root /tmp/www; } }
EOF
nginx -c /tmp/nginx.conf && curl -sS --max-time 10 http://127.0.0.1:8080/index.html; r=$?; nginx -c /tmp/nginx.conf -s quit; exit $r`,
    expect: [/^served by nginx$/m],
    tmpfs: ['/var/lib/nginx'],
    loopback: true,
  },
  {
    name: 'nginx with sendfile on serving a 3 MiB file to curl',
    script: `mkdir -p /tmp/www /var/log/nginx && head -c 3145728 /dev/urandom > /tmp/www/big.bin && cat > /tmp/nginx.conf <<'EOF'
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on; server { listen 127.0.0.1:8081; root /tmp/www; } }
EOF
nginx -c /tmp/nginx.conf && curl -sS --max-time 20 -o /tmp/got.bin http://127.0.0.1:8081/big.bin; r=$?; nginx -c /tmp/nginx.conf -s quit; [ $r = 0 ] && cmp /tmp/www/big.bin /tmp/got.bin && echo same $(stat -c %s /tmp/got.bin)`,
    expect: [/^same 3145728$/m],
    tmpfs: ['/var/lib/nginx'],
    loopback: true,
  },
  {
    name: 'python3: socket.sendfile to TCP, os.splice back into a file',
    script: py(`import os, socket, threading
data = os.urandom(3_000_000); open("/tmp/src", "wb").write(data)
srv = socket.create_server(("127.0.0.1", 0))
def serve():
    c, _ = srv.accept()
    with open("/tmp/src", "rb") as f: c.sendfile(f)
    c.close()
threading.Thread(target=serve).start()
cl = socket.create_connection(srv.getsockname())
r, w = os.pipe()
with open("/tmp/dst", "wb") as out:
    while n := os.splice(cl.fileno(), w, 1 << 16):
        while n: n -= os.splice(r, out.fileno(), n)
print("same", open("/tmp/dst", "rb").read() == data, os.path.getsize("/tmp/dst"))`),
    expect: [/^same True 3000000$/m],
    loopback: true,
  },
  {
    name: 'redis-server and redis-cli ping/set/get over 127.0.0.1',
    script: `redis-server --bind 127.0.0.1 --port 6390 --daemonize yes --dir /tmp --logfile /tmp/redis.log --save '' && for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p 6390 ping 2>/dev/null | grep -q PONG && break; sleep 0.3; done; redis-cli -p 6390 ping && redis-cli -p 6390 set k moat && redis-cli -p 6390 get k; r=$?; redis-cli -p 6390 shutdown nosave >/dev/null 2>&1; exit $r`,
    expect: [/^PONG$/m, /^OK$/m, /^moat$/m],
    loopback: true,
  },
  {
    name: 'ip addr',
    script: 'ip addr',
    expect: [/^1: lo: /m, /inet 127\.0\.0\.1\/8/],
    loopback: true,
  },
  {
    name: 'ps aux',
    script: 'ps aux',
    expect: [/^USER +PID /m, /ps aux$/m],
  },
  {
    name: 'free',
    script: 'free -m',
    expect: [/^Mem: +\d+/m],
  },
  {
    name: 'large file copy (64 MiB)',
    script: `head -c 67108864 /dev/urandom > /tmp/big && cp /tmp/big /tmp/big2 && cmp /tmp/big /tmp/big2 && echo same $(stat -c %s /tmp/big2)`,
    expect: [/^same 67108864$/m],
  },
  {
    name: 'a pipeline',
    script: `seq 1 200000 | awk '{ print $1 * 3 }' | sort -rn | head -3 | tr '\\n' ' ' | sed 's/ $//'; echo; busybox wc -c < /etc/os-release | grep -q . && echo busybox ok`,
    expect: [/^600000 599997 599994$/m, /^busybox ok$/m],
  },
];
