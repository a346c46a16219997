# The core's sources, relative to core/: the one list both builds use, the
# host's (core/CMakeLists.txt) and the ESP32's (firmware/components/micstream_core).
set(MICSTREAM_CORE_SOURCES
  src/error.cpp
  src/protocol.cpp
  src/frame_parser.cpp
  src/codec.cpp
  src/pcm16.cpp
  src/mulaw.cpp
  src/ima_adpcm.cpp
  src/dsp.cpp
  src/backoff.cpp
  src/auth.cpp
  src/clock_sync.cpp
  src/rate_estimator.cpp
  src/image_signature.cpp
  src/listener_audio.cpp
  src/pipeline/frame_queue.cpp
  src/pipeline/capture.cpp
  src/pipeline/sender.cpp
)
