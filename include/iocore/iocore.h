// The umbrella header: everything in the public API (see API.md).
#pragma once

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/EThread.h"
#include "iocore/eventsystem/Event.h"
#include "iocore/eventsystem/EventCodes.h"
#include "iocore/eventsystem/EventProcessor.h"
#include "iocore/eventsystem/IOBuffer.h"
#include "iocore/eventsystem/Lock.h"
#include "iocore/eventsystem/Ptr.h"
#include "iocore/eventsystem/Time.h"
#include "iocore/eventsystem/VConnection.h"
#include "iocore/eventsystem/VIO.h"
#include "iocore/net/IpEndpoint.h"
#include "iocore/net/NetProcessor.h"
#include "iocore/net/NetVConnection.h"
