// A k6 script in the style of Determined's and Seldon's: log in, keep the token the server
// gave, call the API with it, parameters from environment variables. suite runs it with
// `executor: k6` (suites/k6_api.yaml); the demo server's /echo answers with what it received.
import http from 'k6/http';
import { check, sleep } from 'k6';

const BASE = `http://${__ENV.DEMO_HOST}:${__ENV.DEMO_PORT}`;

export function setup() {
  const login = http.post(`${BASE}/echo/api/v1/auth/login?token=${__ENV.API_TOKEN}`, JSON.stringify({ username: 'demo' }), {
    tags: { name: 'login' },
  });
  check(login, { 'logged in': (r) => r.status === 200 });
  return { token: login.json('query').split('=')[1] };
}

export default function (data) {
  const headers = { Authorization: `Bearer ${data.token}` };
  const list = http.get(`${BASE}/echo/api/v1/models?limit=${__ENV.PAGE_SIZE}`, { headers, tags: { name: 'list models' } });
  check(list, { 'listed': (r) => r.status === 200 });
  http.post(`${BASE}/predictions/squeezenet`, JSON.stringify({ instances: [[0.1, 0.2]] }), {
    headers: Object.assign({ 'Content-Type': 'application/json' }, headers),
    tags: { name: 'predict' },
  });
  sleep(0.05);
}
