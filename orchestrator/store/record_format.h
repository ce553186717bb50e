#pragma once

// How the store writes a session's typed fields into its JSON columns, and reads them
// back. The one place that knows the format: the columns of databases written by earlier
// breakfix versions read the same, so the format only ever gains optional fields.

#include <string>

#include "breakfix/error.h"
#include "breakfix/session_record.h"
#include "breakfix/store.h"

namespace breakfix {

std::string record_to_json(const SessionRecord& record);
// Failed, naming the missing or mistyped field, when the text is not a whole record.
Result<SessionRecord> record_from_json(const std::string& text);

std::string vars_to_json(const VarValues& vars);
// Failed unless the text is an object whose values are all strings.
Result<VarValues> vars_from_json(const std::string& text);

std::string access_to_json(const LoginAccess& access);
// Failed unless "keys" is a list of strings and "password_hash" a string (each may be absent).
Result<LoginAccess> access_from_json(const std::string& text);

std::string plan_record_to_json(const PlanSessionRecord& record);
// Failed, naming the field, when the text is not a whole plan record.
Result<PlanSessionRecord> plan_record_from_json(const std::string& text);

}  // namespace breakfix
