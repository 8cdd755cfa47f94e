# Any CI (GitLab, Jenkins, CircleCI…): after `pip install belvo-mock`, the fake for the job.
set -euo pipefail
ready=$(mktemp -u /tmp/belvo-mock-ready.XXXXXX)
belvo-mock --addr 127.0.0.1:8000 --no-fixtures --webhook-delay 0 \
  --ready-file "$ready" > /tmp/belvo-mock.log 2>&1 &
belvo_mock_pid=$!
trap 'kill "$belvo_mock_pid" 2>/dev/null || true' EXIT   # stopped however the job ends
for _ in $(seq 1 100); do [ -s "$ready" ] || ! kill -0 "$belvo_mock_pid" 2>/dev/null && break; sleep 0.1; done
belvo-mock healthcheck http://127.0.0.1:8000 || { cat /tmp/belvo-mock.log; exit 1; }
export BELVO_API_URL=http://127.0.0.1:8000
export BELVO_SECRET_ID=sandbox-secret-id BELVO_SECRET_PASSWORD=sandbox-secret-password

# Your tests here, e.g. `pytest tests/integration`; this one lists links:
curl -fsS -u "$BELVO_SECRET_ID:$BELVO_SECRET_PASSWORD" "$BELVO_API_URL/api/links/"
