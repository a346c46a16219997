// Host stand-in for lwIP's sockets.h: the same BSD socket API (firmware/host only).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
