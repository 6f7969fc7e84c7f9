// Image routes: pull (/images/create), list, inspect, history, tag, delete, prune, search and
// POST /auth, with the JSON encoders they use.
#pragma once

#include "api/system.hpp"

#include <memory>
#include <string>

namespace berth::api {

/// Register the image routes.
void add_image_routes(router& r, std::shared_ptr<api_context> ctx);

// -- encoders (exposed for tests) -----------------------------------------------------------------

/// One line of a JSON progress stream (moby's jsonmessage), without the line end.
std::string encode_progress(const progress_message& m);
/// The in-stream error: {"errorDetail":{"message":m},"error":m}.
std::string encode_stream_error(const std::string& message);
std::string encode_image_summaries(const std::vector<image_info>& images);
std::string encode_image_inspect(const image_info& img);
std::string encode_image_history(const image_info& img);
std::string encode_delete_items(const std::vector<image_delete_item>& items);

} // namespace berth::api
