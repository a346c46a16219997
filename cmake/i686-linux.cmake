# core/ as a 32-bit target (32-bit pointers and size_t, as on the ESP32), built by the host's
# g++ with -m32 (g++-multilib) and run under qemu-i386 (qemu-user): a 64-bit kernel need not
# run 32-bit programs itself, and CI machines do not. gtest_discover_tests and add_test use
# the emulator because this is a cross build.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_FLAGS_INIT -m32)
set(CMAKE_CXX_FLAGS_INIT -m32)
set(CMAKE_EXE_LINKER_FLAGS_INIT -m32)
find_program(MICSTREAM_QEMU_I386 qemu-i386 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${MICSTREAM_QEMU_I386})
# The host's 32-bit libraries (multilib) are the target's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
