// Host stand-in for lwIP's netdb.h (firmware/host only).
#pragma once
#include <netdb.h>
