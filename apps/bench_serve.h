#pragma once
// `prfaas bench serve`: what a served request costs through the HTTP gateway.  Starts a
// deployment, sends the same streaming requests twice, `concurrency` at a time: first over
// HTTP to the gateway (server-sent events, as an OpenAI client would), then over the actor
// plane straight to the router (the CLI's path, `prfaas generate --stream`).  Reports each
// path's requests per second, time to first token, inter-token latency (per request: from the
// first token to the last, over the tokens after the first) and end-to-end percentiles, the
// gateway's added latency (HTTP minus actor plane, medians of the same run), and whether both
// paths gave the same text.

#include <string>

namespace prfaas::apps {

struct bench_serve_options {
  std::string config;      // deployment TOML (default: the built-in tiny deployment)
  int concurrency = 4;
  int requests = 48;       // per path
  int prompt_bytes = 400;
  int max_tokens = 32;
  bool json = false;
};

int bench_serve(const bench_serve_options& options);

}  // namespace prfaas::apps
