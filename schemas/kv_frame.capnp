@0xb72570b891ac8911;
# KV transport frames: one Cap'n Proto message per frame on a data-plane TCP connection.
# The payload (`data`) is an external segment that references block memory on the send side,
# so a frame goes out as one writev of [segment table, header segment, block bytes].
# Enums are append-only: a removed value stays as a comment.

enum FrameKind {
  hello @0;        # first frame on a connection: version, sender name (`reason`), link id
                   # (`requestId`) and connection index (`index`)
  kvBlock @1;      # one full-attention block of one layer: `index` is the block index
  linearState @2;  # the recurrent state of one linear-attention layer (`index` = 0)
  layerDone @3;    # every payload of `layer` has been sent (informational: with several
                   # connections it may overtake the payloads; the receiver counts them)
  requestDone @4;  # every layer has been sent; `firstToken` is the prefill's sampled token
  abort @5;        # the sender gives up on `requestId`; `reason` says why
  challenge @6;    # receiver -> sender: `data` is a random nonce
  proof @7;        # sender -> receiver: `data` is HMAC-SHA256(secret, nonce | name), then the
                   # sender's own 32-byte nonce; receiver -> sender (before accepted): `data` is
                   # HMAC-SHA256(secret, sender's nonce | "kv-receiver\n" | name)
  accepted @8;     # receiver -> sender: the connection may carry KV
  ncclId @9;       # receiver -> sender (NCCL links): `data` is the ncclUniqueId to join
  devicePayload @10;  # a payload of `payloadBytes` for (layer, index) follows over NCCL
  ack @11;         # receiver -> sender: `index` 1 progress (layers [0, `layer`) are ready),
                   # 2 complete, 3 failed (`reason` says why)
  resume @12;      # sender -> receiver, on a new connection after a break: what landed of
                   # `requestId`?
  resumeState @13; # receiver -> sender: `index` 0 nothing to resume (`reason`), 1 active (`data`
                   # holds one bit per payload, layers in order), 2 complete
}

struct KvFrame {
  kind @0 :FrameKind;
  requestId @1 :UInt64;
  layer @2 :UInt32;
  index @3 :UInt32;
  tokenCount @4 :UInt32;     # prompt tokens covered by this request's KV
  firstToken @5 :Int32;
  version @6 :UInt32;
  reason @7 :Text;           # hello: sender name; abort: cause
  data @8 :Data;             # payload bytes, referenced in place (never copied into the message)
  payloadBytes @9 :UInt64;
  layout @11 :Text;          # hello: the sender's KV layout (runtime/kv/kv_layout.h); a receiver
                             # holding another refuses the connection, naming both
  tag @10 :Data;             # kvBlock, linearState on an encrypted link: the AES-256-GCM tag
  firstLogprobs @12 :TokenLogprobs;  # requestDone, when the job asked for log-probabilities: the
                                     # first token's (the decode node reports them with its output)
}

# A chosen token's log-probability and the most likely alternatives (runtime/model/sampler.h).
struct TokenLogprobs {
  logprob @0 :Float32;
  topIds @1 :List(Int32);
  topLogprobs @2 :List(Float32);
}
