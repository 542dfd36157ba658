// The umbrella header: everything in the public API. docs/README.md is the guide to it.
#pragma once

/// Everything iocore offers: the event system (Continuation, EThread, Event, EventProcessor,
/// ProxyMutex), IO buffers (MIOBuffer, IOBufferReader, VIO), the net layer (NetProcessor,
/// NetVConnection) and TLS. Names, event codes and semantics follow Apache Traffic Server's iocore;
/// docs/porting-from-ats.md lists where they differ.
namespace iocore {
}

#include "iocore/eventsystem/Action.h"
#include "iocore/eventsystem/Clock.h"
#include "iocore/eventsystem/Continuation.h"
#include "iocore/eventsystem/Diags.h"
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
#include "iocore/net/SocketAddress.h"
#include "iocore/net/SplicePipe.h"
#include "iocore/net/SpliceTunnel.h"
#include "iocore/tls/TLS.h"
