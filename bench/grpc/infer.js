// k6's side of bench/grpc.sh: unary ModelInfer with the request message read from BODY (the
// same canonical-JSON file suite's test sends), one connection per VU, every answer checked for
// status OK. Env: ADDR (host:port), PROTO_DIR (the folder of grpc_predict_v2.proto), BODY.
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const client = new grpc.Client();
client.load([__ENV.PROTO_DIR], 'grpc_predict_v2.proto');
const request = JSON.parse(open(__ENV.BODY));

export default function () {
  if (__ITER === 0) {
    client.connect(__ENV.ADDR, { plaintext: true, maxReceiveSize: 16 << 20, maxSendSize: 16 << 20 });
  }
  const res = client.invoke('inference.GRPCInferenceService/ModelInfer', request, { timeout: '10s' });
  check(res, { 'status OK': (r) => r && r.status === grpc.StatusOK });
}
