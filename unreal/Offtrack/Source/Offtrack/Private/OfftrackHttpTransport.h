#pragma once

// The engine's HTTP module (FHttpModule) as the tracker's transport, for
// Project Settings -> Plugins -> Offtrack -> Use Engine HTTP. Delivery logic
// stays in the library: this only performs the requests it asks for.

#include "OfftrackConvert.h"

namespace OfftrackHttpTransport
{
/**
 * A handler for offtrack::Tracker::set_transport. Each request is started
 * on the game thread through FHttpModule and answered through its
 * offtrack::Completion, which refuses answers once the tracker is destroyed.
 */
offtrack::TransportHandler MakeHandler();
} // namespace OfftrackHttpTransport
