#include "breakfix/error.h"

namespace breakfix {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::Conflict: return "conflict";
    case ErrorCode::Invalid: return "invalid";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::PermissionDenied: return "permission denied";
    case ErrorCode::Tampered: return "tampered";
    case ErrorCode::Failed: return "failed";
    case ErrorCode::Internal: return "internal error";
  }
  return "error";
}

}  // namespace breakfix
