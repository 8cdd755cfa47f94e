#!/usr/bin/env python3
"""probe.py PORT SECONDS: opens a fresh connection every 5 ms for SECONDS, sends GET /_mock/health
and reads the whole answer; prints the count, median, p99 and max of those times."""
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
times = []
end = time.time() + secs
while time.time() < end:
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.005)
times.sort()
print(f"probes={len(times)} median={times[len(times)//2]:.2f}ms p99={times[int(len(times)*0.99)]:.2f}ms max={times[-1]:.2f}ms")
