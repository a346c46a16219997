// The loadgen's settings, one field per command-line option (main.cpp).
#pragma once

#include <string>

#include "micstream/codec.h"

namespace micstream::loadgen {

struct Options {
  std::string host = "127.0.0.1";
  int http_port = 0;
  int ingest_port = 0;
  std::string ports_file;
  unsigned devices = 10;
  unsigned listeners = 1000;
  double seconds = 20;
  double warmup_seconds = 2;
  double drain_seconds = 3;
  int server_pid = 0;
  std::string latency_csv;
  std::string plot;
  double csv_bucket_ms = 0.1;
  std::string device_prefix = "load-";
  std::string secret = "loadgen-secret";
  std::string codec_name = "pcm16";
  Codec codec = Codec::pcm16;
  unsigned sample_rate = 16000;
  unsigned samples_per_frame = 320;
  unsigned connect_concurrency = 256;
  double poll_ms = -1;  // -1: automatic
  double connect_timeout = 10;
  double ping_interval = 5;
  bool tls = false;            // listeners speak wss
  std::string ca_file;         // verify the server's certificate against this CA (PEM)
  bool tls_no_verify = false;  // or, said explicitly, do not verify it
};

}  // namespace micstream::loadgen
