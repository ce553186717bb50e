#include "session/plan_sessions.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "session/assessment.h"
#include "session/report.h"
#include "session/vars.h"

namespace breakfix {
namespace {

using nlohmann::json;

// The candidate's way on to the next part (kNextPartCommand). It runs under the lab's
// /bin/sh as the candidate, like any of their commands: all it can do is ask.
constexpr const char* kNextPartScript = R"(#!/bin/sh
# breakfix: ends this part of your interview and moves on to the next one.
# It asks breakfix's ssh gateway through your terminal (an escape sequence that your
# terminal does not show).
case "$1" in
  -y|--yes) ;;
  *)
    printf 'End this part now and move on to the next one? It is graded as it is, and you cannot come back. [y/N] '
    read answer || exit 1
    case "$answer" in
      y|Y|yes|YES|Yes) ;;
      *) echo "Staying on this part."; exit 1 ;;
    esac ;;
esac
# The words first: the gateway ends this part's access as soon as it reads the escape,
# and what follows it may never reach the screen (seen in CI, under load).
echo "Moving on: this part ends in a few seconds. Log in again the same way for the next part."
printf '\033]4747;breakfix-next-part\007'
)";

bool access_ended(SessionState state) {
  return state == SessionState::Grading || state == SessionState::Graded || state == SessionState::Failed ||
         state == SessionState::Removed;
}

std::string minutes(std::chrono::seconds duration) {
  const auto count = (duration.count() + 59) / 60;
  return std::to_string(count) + (count == 1 ? " minute" : " minutes");
}

std::string part_label(const Plan& plan, std::size_t index) {
  return "part " + std::to_string(index + 1) + " of " + std::to_string(plan.parts.size()) + " (" +
         plan.parts[index].name + ")";
}

// How far a state is along the way, for the least advanced part of a plan run together.
int progress_rank(SessionState state) {
  switch (state) {
    case SessionState::Provisioning: return 0;
    case SessionState::Injecting: return 1;
    case SessionState::Warm:  // a plan's parts carry lab files: never from the pool
    case SessionState::Ready: return 2;
    case SessionState::Grading: return 3;
    case SessionState::Failed:
    case SessionState::Graded: return 4;
    case SessionState::Removed: return 5;
  }
  return 0;
}

// A part's Markdown report inside the plan's: its headings one level down.
std::string nested_markdown(const std::string& markdown) {
  std::string out;
  std::size_t start = 0;
  bool fenced = false;
  while (start < markdown.size()) {
    std::size_t end = markdown.find('\n', start);
    if (end == std::string::npos) end = markdown.size();
    const std::string line = markdown.substr(start, end - start);
    if (line.rfind("```", 0) == 0 || line.rfind("~~~", 0) == 0) fenced = !fenced;
    out += (!fenced && line.rfind("#", 0) == 0 ? "#" : "") + line + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

PlanSessions::PlanSessions(SessionEngine& engine, Store& store, const Clock& clock, PlanLookup plans,
                           std::filesystem::path report_dir)
    : engine_(engine), store_(store), clock_(clock), plans_(std::move(plans)), report_dir_(std::move(report_dir)) {}

std::optional<StoredPlanSession> PlanSessions::find(const std::string& id) const {
  std::lock_guard lock(data_mutex_);
  auto found = sessions_.find(id);
  if (found == sessions_.end()) return std::nullopt;
  return found->second;
}

std::optional<PlanSessions::Located> PlanSessions::locate(const std::string& session_id) const {
  std::lock_guard lock(data_mutex_);
  auto found = parts_.find(session_id);
  if (found == parts_.end()) return std::nullopt;
  return found->second;
}

bool PlanSessions::owns(const std::string& id) const { return find(id).has_value(); }

PlanPtr PlanSessions::plan_of(const StoredPlanSession& stored) const {
  auto plan = std::make_shared<Plan>();
  plan->id = stored.plan_id;
  plan->title = stored.record.title;
  plan->mode = stored.record.together ? PlanMode::Together : PlanMode::Sequence;
  for (const PlanPartRecord& part : stored.record.parts) plan->parts.push_back({part.name, part.scenario_id, part.budget, {}});
  if (PlanPtr library = plans_(stored.plan_id)) plan->rubric = library->rubric;
  return plan;
}

Status PlanSessions::save(const StoredPlanSession& stored) {
  if (Status saved = store_.update_plan_session(stored.id, stored.record, clock_.now()); !saved) return saved;
  std::lock_guard lock(data_mutex_);
  sessions_[stored.id] = stored;
  for (std::size_t i = 0; i < stored.record.parts.size(); ++i) {
    if (!stored.record.parts[i].session_id.empty()) parts_[stored.record.parts[i].session_id] = {stored.id, static_cast<int>(i)};
  }
  reported_[stored.id] = false;
  return {};
}

Status PlanSessions::add_event(StoredPlanSession& stored, const std::string& kind, const std::string& detail) {
  if (stored.record.events.size() >= kMaxPlanEvents) {
    return make_error(ErrorCode::Conflict, "plan session " + stored.id + " has " + std::to_string(kMaxPlanEvents) +
                                               " notes, ratings and moves already, the most it keeps");
  }
  stored.record.events.push_back({clock_.now(), kind, detail});
  return {};
}

Result<PlanSessionView> PlanSessions::start(const PlanRequest& request) {
  const PlanPtr plan = plans_(request.plan_id);
  if (!plan) return make_error(ErrorCode::NotFound, "no plan '" + request.plan_id + "'");
  std::lock_guard change(changes_);
  StoredPlanSession stored;
  // The candidate logs in with this id: no scenario session may have it.
  do {
    stored.id = new_session_id();
  } while (store_.get_session(stored.id).ok() || owns(stored.id));
  stored.plan_id = plan->id;
  stored.candidate = request.candidate;
  stored.access = {request.public_keys, request.password_hash};
  stored.created = stored.updated = clock_.now();
  stored.record.title = plan->title;
  stored.record.together = plan->mode == PlanMode::Together;
  stored.record.seed = request.seed.value_or(random_seed());
  for (const PlanPart& part : plan->parts) stored.record.parts.push_back({part.name, "", part.scenario_id, part.duration});
  (void)add_event(stored, "plan", std::string("started: ") + std::to_string(plan->parts.size()) + " parts, " +
                                      to_string(plan->mode) + ", " + minutes(plan->duration()));
  if (Status created = store_.create_plan_session(stored); !created) return created.error();
  {
    std::lock_guard lock(data_mutex_);
    sessions_[stored.id] = stored;
  }
  const std::size_t first_parts = plan->mode == PlanMode::Sequence ? 1 : plan->parts.size();
  for (std::size_t i = 0; i < first_parts; ++i) {
    const auto budget = plan->mode == PlanMode::Sequence ? plan->parts[i].duration : plan->duration();
    if (Status started = start_part(stored, *plan, i, budget); !started) {
      // Nothing is left half started: the parts that did start end, and the plan with them.
      stored.record.ended = true;
      (void)add_event(stored, "error", part_label(*plan, i) + " could not start: " + started.error().message);
      (void)save(stored);
      // A part still being prepared cannot be removed yet: tick() ends it once it is
      // ready, as it does every running part of an ended interview.
      for (const PlanPartRecord& part : stored.record.parts) {
        if (!part.session_id.empty()) (void)engine_.remove(part.session_id);
      }
      return started.error();
    }
  }
  return view(stored.id);
}

Status PlanSessions::start_part(StoredPlanSession& stored, const Plan& plan, std::size_t index, std::chrono::seconds budget) {
  SessionRequest request;
  request.scenario_id = plan.parts[index].scenario_id;
  request.candidate = stored.candidate;
  // Each part its own seed, all reproducible from the plan session's.
  request.seed = stored.record.seed + index;
  request.duration = budget;
  request.public_keys = stored.access.public_keys;
  request.password_hash = stored.access.password_hash;
  if (plan.mode == PlanMode::Sequence && index + 1 < plan.parts.size()) {
    request.lab_files.push_back({kNextPartCommand, kNextPartScript, 0755});
  }
  auto started = engine_.start(request);
  if (!started) return started.error();
  stored.record.parts[index].session_id = started->id;
  (void)add_event(stored, "part", part_label(plan, index) + " started as session " + started->id + " (" +
                                      plan.parts[index].scenario_id + ", " + minutes(budget) + ")");
  return save(stored);
}

void PlanSessions::advance(StoredPlanSession& stored, const Plan& plan) {
  if (stored.record.ended) return;
  auto& record = stored.record;
  if (plan.mode == PlanMode::Together) {
    for (const PlanPartRecord& part : record.parts) {
      if (part.session_id.empty()) return;
      auto view = engine_.view(part.session_id);
      if (!view || !access_ended(view->state)) return;
    }
    record.ended = true;
    (void)add_event(stored, "plan", "ended: every part's access ended");
    (void)save(stored);
    return;
  }
  const auto index = static_cast<std::size_t>(record.current);
  if (record.parts[index].session_id.empty()) {
    // A start that failed or was cut by a restart: tried again, after a backoff.
    (void)start_or_retry(stored, plan, index, plan.parts[index].duration);
    return;
  }
  auto view = engine_.view(record.parts[index].session_id);
  if (!view || !access_ended(view->state)) return;
  if (index + 1 >= record.parts.size()) {
    record.ended = true;
    (void)add_event(stored, "plan", "ended: the last part's access ended");
    (void)save(stored);
    return;
  }
  // What the candidate left unused of this part goes to the next: the interview never
  // runs longer than the plan, and moving on early is never a loss.
  // (An early end moves the deadline to the end, so the planned one is ready_at + duration.)
  std::chrono::seconds carried{0};
  const WallTime planned_end = view->ready_at + view->duration;
  if (view->ready_at.time_since_epoch().count() != 0 && view->ended_at < planned_end) {
    carried = std::chrono::duration_cast<std::chrono::seconds>(planned_end - view->ended_at);
  }
  record.current = static_cast<int>(index + 1);
  if (carried.count() > 0) {
    (void)add_event(stored, "plan", minutes(carried) + " left on " + part_label(plan, index) + " go to the next part");
  }
  (void)start_or_retry(stored, plan, index + 1, plan.parts[index + 1].duration + carried);
}

Status PlanSessions::start_or_retry(StoredPlanSession& stored, const Plan& plan, std::size_t index, std::chrono::seconds budget) {
  const WallTime now = clock_.now();
  {
    std::lock_guard lock(data_mutex_);
    auto failing = problems_.find(stored.id);
    if (failing != problems_.end() && now < failing->second.retry_at) return make_error(ErrorCode::Unavailable, failing->second.error);
  }
  Status started = start_part(stored, plan, index, budget);
  std::lock_guard lock(data_mutex_);
  if (started) {
    problems_.erase(stored.id);
    return started;
  }
  // Said once on the timeline and in the view; tried again after 2, 4 ... 60 s.
  Problem& problem = problems_[stored.id];
  const std::string error = part_label(plan, index) + " could not start: " + started.error().message;
  const bool new_error = problem.error != error;
  problem.failures++;
  problem.error = error;
  problem.retry_at = now + std::chrono::seconds(std::min(60, 1 << std::min(problem.failures, 6)));
  if (new_error && stored.record.events.size() < kMaxPlanEvents) {
    stored.record.events.push_back({now, "error", problem.error});
    (void)store_.update_plan_session(stored.id, stored.record, now);
    sessions_[stored.id] = stored;
  }
  return started;
}

Result<PlanSessionView> PlanSessions::next(const std::string& id, const std::string& who, std::optional<int> from_part) {
  std::lock_guard change(changes_);
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  if (from_part && *from_part != stored->record.current) {
    return make_error(ErrorCode::Conflict, "part " + std::to_string(*from_part + 1) + " is not the current part");
  }
  const PlanPtr plan = plan_of(*stored);
  if (plan->mode == PlanMode::Together) {
    return make_error(ErrorCode::Conflict, "plan " + plan->id + " runs its parts together: every part is open already");
  }
  if (stored->record.ended) return make_error(ErrorCode::Conflict, "the interview " + id + " has ended");
  const auto index = static_cast<std::size_t>(stored->record.current);
  if (index + 1 >= plan->parts.size()) {
    return make_error(ErrorCode::Conflict, part_label(*plan, index) + " is the last: `session end` ends the interview");
  }
  const std::string& part = stored->record.parts[index].session_id;
  auto current = part.empty() ? Result<SessionView>(make_error(ErrorCode::Conflict, "")) : engine_.view(part);
  if (!current || current->state == SessionState::Provisioning || current->state == SessionState::Injecting) {
    return make_error(ErrorCode::Conflict, part_label(*plan, index) + " is still being prepared");
  }
  if (current->state == SessionState::Ready) {
    auto ended = engine_.end(part, "ended by the " + who + " to move on to the next part");
    if (!ended) return ended.error();
  }
  (void)add_event(*stored, "next", part_label(*plan, index) + " ended by the " + who);
  if (Status saved = save(*stored); !saved) return saved.error();
  advance(*stored, *plan);
  return make_view(*stored);
}

void PlanSessions::next_requested_from(const std::string& session_id) {
  auto located = locate(session_id);
  if (!located) return;
  (void)next(located->plan_session, "candidate", located->part);
}

Result<PlanSessionView> PlanSessions::end(const std::string& id) {
  std::lock_guard change(changes_);
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  if (stored->record.ended) return make_error(ErrorCode::Conflict, "the interview " + id + " has ended already");
  // Ended before the parts are, so that their terminals hear that nothing comes next.
  stored->record.ended = true;
  (void)add_event(*stored, "end", "ended early by the interviewer");
  if (Status saved = save(*stored); !saved) return saved.error();
  end_running_parts(*stored);
  return make_view(*stored);
}

void PlanSessions::end_running_parts(const StoredPlanSession& stored) {
  // A part still being prepared is ended by a later tick, once it is ready.
  for (const PlanPartRecord& part : stored.record.parts) {
    if (part.session_id.empty()) continue;
    auto view = engine_.view(part.session_id);
    if (view && view->state == SessionState::Ready) (void)engine_.end(part.session_id, "the interview was ended");
  }
}

Result<PlanSessionView> PlanSessions::remove(const std::string& id) {
  std::lock_guard change(changes_);
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  if (!stored->record.ended) {
    stored->record.ended = true;
    (void)add_event(*stored, "end", "removed by the interviewer");
    if (Status saved = save(*stored); !saved) return saved.error();
  }
  for (const PlanPartRecord& part : stored->record.parts) {
    if (part.session_id.empty()) continue;
    auto view = engine_.view(part.session_id);
    if (!view || view->state == SessionState::Removed) continue;
    if (auto removed = engine_.remove(part.session_id); !removed) {
      return make_error(removed.error().code, "part " + part.name + " (session " + part.session_id +
                                                  "): " + removed.error().message);
    }
  }
  return make_view(*stored);
}

Result<std::string> PlanSessions::current_part(const std::string& id) const {
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  const PlanPtr plan = plan_of(*stored);
  if (plan->mode == PlanMode::Together) {
    std::string ids;
    for (const PlanPartRecord& part : stored->record.parts) ids += (ids.empty() ? "" : ", ") + part.name + " " + part.session_id;
    return make_error(ErrorCode::Conflict, "plan " + plan->id + " runs its parts together: act on one part's session (" +
                                               ids + ")");
  }
  const std::string& part = stored->record.parts[static_cast<std::size_t>(stored->record.current)].session_id;
  if (part.empty()) return make_error(ErrorCode::Conflict, "the current part of " + id + " has not started yet");
  return part;
}

Result<SessionAccess> PlanSessions::access(const std::string& id, const std::string& host) const {
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  const PlanPtr plan = plan_of(*stored);
  const auto& parts = stored->record.parts;
  std::size_t index = static_cast<std::size_t>(stored->record.current);
  if (plan->mode == PlanMode::Together) {
    index = 0;
    for (std::size_t i = 0; !host.empty() && i < parts.size(); ++i) {
      auto part = parts[i].session_id.empty() ? Result<SessionAccess>(make_error(ErrorCode::NotFound, ""))
                                              : engine_.access(parts[i].session_id);
      if (part && part->lab && part->lab->find(host)) index = i;
    }
  }
  // The banner: the parts, where the candidate is, and how to move on.
  std::string banner = "  " + plan->title + ": " + std::to_string(parts.size()) + " parts" +
                       (plan->mode == PlanMode::Together ? ", all open at once (log in as " + id + "+HOST)" : "") + "\n";
  // Part names and budgets only: a scenario's id may name its fault (stale-pidfile).
  for (std::size_t i = 0; i < plan->parts.size(); ++i) {
    char line[256];
    std::snprintf(line, sizeof line, "  %s %zu. %-24s %s\n", i == index ? ">" : " ", i + 1, plan->parts[i].name.c_str(),
                  minutes(plan->parts[i].duration).c_str());
    banner += line;
  }
  if (plan->mode == PlanMode::Sequence && index + 1 < plan->parts.size()) {
    banner += "  When you are done with this part, run `breakfix-next` to move on (you cannot come back).\n";
  }
  auto between = [&](std::size_t coming) {
    // The next part is being prepared: valid credentials are let in to hear so.
    SessionAccess waiting;
    waiting.session_id = coming > 0 ? parts[coming - 1].session_id : "";
    waiting.state = SessionState::Graded;
    waiting.public_keys = stored->access.public_keys;
    waiting.password_hash = stored->access.password_hash;
    waiting.deadline = clock_.now();
    waiting.plan_banner = banner;
    waiting.closed_message = stored->record.ended ? "This interview has ended. Thank you!"
                                                  : part_label(*plan, coming) + " is being prepared: log in again in a minute.";
    return waiting;
  };
  if (parts[index].session_id.empty()) {
    if (index == 0) return make_error(ErrorCode::NotFound, "plan session " + id + " has not started a part yet");
    return between(index);
  }
  auto part = engine_.access(parts[index].session_id);
  if (!part) {
    if (index == 0) return part.error();
    return between(index);
  }
  if (index > 0 && plan->mode == PlanMode::Sequence &&
      (part->state == SessionState::Provisioning || part->state == SessionState::Injecting)) {
    return between(index);
  }
  if (!part->open && plan->mode == PlanMode::Sequence && !stored->record.ended && index + 1 < parts.size() &&
      access_ended(part->state)) {
    // The current part just ended; tick() starts the next within a second.
    SessionAccess waiting = between(index + 1);
    waiting.session_id = parts[index].session_id;
    return waiting;
  }
  part->plan_banner = banner;
  part->next_part = plan->mode == PlanMode::Sequence && index + 1 < parts.size() && !stored->record.ended;
  return part;
}

Result<SessionEvent> PlanSessions::add_note(const std::string& id, const std::string& text) {
  if (std::string problem = note_problem(text); !problem.empty()) {
    return make_error(ErrorCode::Invalid, "text: the note " + problem);
  }
  std::lock_guard change(changes_);
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  if (Status added = add_event(*stored, kNoteEvent, text); !added) return added.error();
  if (Status saved = save(*stored); !saved) return saved.error();
  return stored->record.events.back();
}

Result<GivenRating> PlanSessions::rate(const std::string& id, const std::string& criterion, int level) {
  std::lock_guard change(changes_);
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  const PlanPtr plan = plan_of(*stored);
  const auto found = std::find_if(plan->rubric.begin(), plan->rubric.end(),
                                  [&](const RubricCriterion& c) { return c.name == criterion; });
  if (found == plan->rubric.end()) {
    std::string names;
    for (const RubricCriterion& c : plan->rubric) names += (names.empty() ? "" : ", ") + c.name;
    return make_error(ErrorCode::Invalid, "criterion: plan " + plan->id + "'s rubric has no '" + criterion + "' (" +
                                              (names.empty() ? "it has no rubric" : "it has " + names) +
                                              "); a part's own rubric is rated on the part's session");
  }
  const int of = static_cast<int>(found->levels.size());
  if (level < 1 || level > of) {
    return make_error(ErrorCode::Invalid, "level: " + criterion + " has levels 1 to " + std::to_string(of));
  }
  if (Status added = add_event(*stored, kRatingEvent, rating_detail(*found, level)); !added) return added.error();
  if (Status saved = save(*stored); !saved) return saved.error();
  return GivenRating{criterion, level, of, found->levels[static_cast<std::size_t>(level - 1)]};
}

PlanSessionView PlanSessions::make_view(const StoredPlanSession& stored) const {
  PlanSessionView view;
  view.id = stored.id;
  view.plan_id = stored.plan_id;
  view.candidate = stored.candidate;
  view.current = stored.record.current;
  view.ended = stored.record.ended;
  view.created = stored.created;
  view.public_keys = static_cast<int>(stored.access.public_keys.size());
  view.password = !stored.access.password_hash.empty();
  const PlanPtr plan = plan_of(stored);
  view.title = plan->title;
  view.mode = plan->mode;
  view.duration = plan->duration();
  {
    std::lock_guard lock(data_mutex_);
    if (auto failing = problems_.find(stored.id); failing != problems_.end()) view.problem = failing->second.error;
  }
  for (std::size_t i = 0; i < stored.record.parts.size(); ++i) {
    PlanPartView part;
    part.name = stored.record.parts[i].name;
    part.scenario_id = plan->parts[i].scenario_id;
    part.budget = plan->parts[i].duration;
    if (!stored.record.parts[i].session_id.empty()) {
      if (auto session = engine_.view(stored.record.parts[i].session_id)) part.session = std::move(*session);
    }
    view.parts.push_back(std::move(part));
  }
  // The interview's state, from its parts'.
  std::vector<SessionState> states;
  for (const PlanPartView& part : view.parts) {
    if (part.session) states.push_back(part.session->state);
  }
  if (states.empty()) {
    view.state = view.ended ? SessionState::Failed : SessionState::Provisioning;
  } else if (view.mode == PlanMode::Sequence && !view.ended) {
    const auto& current = view.parts[static_cast<std::size_t>(view.current)];
    // Between two parts, the interview is still on.
    view.state = current.session ? current.session->state : SessionState::Provisioning;
    if (access_ended(view.state)) view.state = SessionState::Ready;
  } else if (view.mode == PlanMode::Together && !view.ended) {
    view.state = *std::min_element(states.begin(), states.end(),
                                   [](SessionState a, SessionState b) { return progress_rank(a) < progress_rank(b); });
  } else {
    const bool grading = std::count(states.begin(), states.end(), SessionState::Grading) > 0;
    const bool all_removed = std::count(states.begin(), states.end(), SessionState::Removed) == static_cast<long>(states.size());
    const bool all_failed = std::count(states.begin(), states.end(), SessionState::Failed) == static_cast<long>(states.size());
    view.state = grading ? SessionState::Grading : all_removed ? SessionState::Removed
                 : all_failed                     ? SessionState::Failed
                                                  : SessionState::Graded;
  }
  return view;
}

Result<PlanSessionView> PlanSessions::view(const std::string& id) const {
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  return make_view(*stored);
}

Result<std::vector<PlanSessionView>> PlanSessions::list() const {
  std::vector<StoredPlanSession> all;
  {
    std::lock_guard lock(data_mutex_);
    for (const auto& [id, stored] : sessions_) all.push_back(stored);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.created < b.created; });
  std::vector<PlanSessionView> views;
  for (const StoredPlanSession& stored : all) views.push_back(make_view(stored));
  return views;
}

bool PlanSessions::finished(const PlanSessionView& view) const {
  if (!view.ended) return false;
  for (const PlanPartView& part : view.parts) {
    if (part.session && (part.session->state == SessionState::Grading || !access_ended(part.session->state))) return false;
  }
  return true;
}

Result<std::pair<std::string, std::string>> PlanSessions::report(const std::string& id) const {
  auto stored = find(id);
  if (!stored) return make_error(ErrorCode::NotFound, "no plan session " + id);
  const PlanSessionView view = make_view(*stored);
  if (!finished(view)) {
    return make_error(ErrorCode::Conflict, "the interview " + id + " is " + (view.ended ? "still grading" : "not over") +
                                               ": its report is written when every part has been graded");
  }
  const std::vector<RubricCriterion> rubric = plan_of(*stored)->rubric;
  const std::vector<Rating> ratings = ratings_of(rubric, stored->record.events);

  json parts = json::array();
  double weighted = 0;
  double weights = 0;
  std::string table = "| part | scenario | budget | session | score |\n|---|---|---|---|---|\n";
  std::string details;
  for (std::size_t i = 0; i < view.parts.size(); ++i) {
    const PlanPartView& part = view.parts[i];
    json entry = {{"name", part.name},        {"scenario", part.scenario_id}, {"budget_s", part.budget.count()},
                  {"session", nullptr},       {"state", nullptr},             {"score", nullptr},
                  {"report", nullptr}};
    std::string score_cell = "not started";
    if (part.session) {
      entry["session"] = part.session->id;
      entry["state"] = to_string(part.session->state);
      score_cell = to_string(part.session->state);
      if (auto stored_report = engine_.report(part.session->id)) {
        json part_report = json::parse(stored_report->first, nullptr, false);
        if (!part_report.is_discarded()) entry["report"] = part_report;
        details += "\n---\n\n# Part " + std::to_string(i + 1) + ": " + part.name + "\n\n" + nested_markdown(stored_report->second);
      }
      if (part.session->score) {
        entry["score"] = *part.session->score;
        char cell[32];
        std::snprintf(cell, sizeof cell, "%.0f%%", *part.session->score * 100);
        score_cell = cell;
        weighted += *part.session->score * static_cast<double>(part.budget.count());
        weights += static_cast<double>(part.budget.count());
      }
    }
    table += "| " + std::to_string(i + 1) + ". " + escape_cell(part.name) + " | " + escape_cell(part.scenario_id) + " | " +
             minutes(part.budget) + " | " + (part.session ? part.session->id : "-") + " | " + score_cell + " |\n";
    parts.push_back(entry);
  }
  json notes = json::array();
  json events = json::array();
  std::string timeline;
  for (const SessionEvent& event : stored->record.events) {
    if (event.kind == kNoteEvent) notes.push_back({{"time", iso_time(event.time)}, {"text", event.detail}});
    events.push_back({{"time", iso_time(event.time)}, {"kind", event.kind}, {"detail", event.detail}});
    std::string detail = event.detail;
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    timeline += "| " + iso_time(event.time) + " | " + event.kind + " | " + escape_cell(detail) + " |\n";
  }
  const bool scored = weights > 0;
  const double score = scored ? weighted / weights : 0;
  json out = {{"kind", "plan"},
              {"session", stored->id},
              {"plan", stored->plan_id},
              {"title", view.title},
              {"candidate", stored->candidate},
              {"mode", to_string(view.mode)},
              {"duration_s", view.duration.count()},
              {"score", scored ? json(score) : json(nullptr)},
              {"parts", parts},
              {"rubric", rubric_json(ratings)},
              {"notes", notes},
              {"events", events}};
  char total[160] = "no part was graded";
  if (scored) std::snprintf(total, sizeof total, "%.0f%% (the graded parts' scores weighted by their budgets; parts never started are left out)", score * 100);
  std::string md = "# Interview report: " + view.title + "\n\n" + "- Session: " + stored->id + " (plan " + stored->plan_id +
                   ", " + to_string(view.mode) + ", " + minutes(view.duration) + ")\n- Candidate: " + stored->candidate +
                   "\n- Automatic checks: " + total + "\n\n## Parts\n\n" + table + "\n" + rubric_markdown(ratings) +
                   "## The interview's timeline\n\n| time | event | detail |\n|---|---|---|\n" + timeline + details;
  return std::make_pair(out.dump(2) + "\n", md);
}

std::string PlanSessions::notice_text(const std::string& session_id, const std::string& text) const {
  auto located = locate(session_id);
  if (!located) return text;
  auto stored = find(located->plan_session);
  if (!stored) return text;
  const PlanPtr plan = plan_of(*stored);
  const auto index = static_cast<std::size_t>(located->part);
  if (index >= plan->parts.size()) return text;
  if (text == "time is up") {
    if (plan->mode == PlanMode::Sequence && !stored->record.ended && index + 1 < plan->parts.size()) {
      return "time is up for " + part_label(*plan, index) + ". Log in again the same way for part " +
             std::to_string(index + 2) + " (" + plan->parts[index + 1].name + ").";
    }
    return "time is up: the interview has ended. Thank you!";
  }
  return part_label(*plan, index) + ": " + text;
}

void PlanSessions::publish_report(const std::string& id) {
  if (report_dir_.empty()) return;
  auto written = report(id);
  if (!written) return;
  (void)write_file_atomically(report_dir_ / (id + ".json"), written->first);
  (void)write_file_atomically(report_dir_ / (id + ".md"), written->second);
}

void PlanSessions::tick() {
  // A change that holds the lock (an interviewer's next waits for a part's work) is not
  // waited for: the next tick comes in a second.
  std::unique_lock change(changes_, std::try_to_lock);
  if (!change) return;
  std::vector<StoredPlanSession> all;
  {
    std::lock_guard lock(data_mutex_);
    for (const auto& [id, stored] : sessions_) {
      if (!stored.record.ended || !reported_[id]) all.push_back(stored);
    }
  }
  for (StoredPlanSession& stored : all) {
    const PlanPtr plan = plan_of(stored);
    advance(stored, *plan);
    if (stored.record.ended) end_running_parts(stored);
    if (stored.record.ended && finished(make_view(stored))) {
      publish_report(stored.id);
      std::lock_guard lock(data_mutex_);
      reported_[stored.id] = true;
    }
  }
}

Result<int> PlanSessions::recover() {
  std::vector<Error> damaged;
  auto all = store_.list_plan_sessions(&damaged);
  if (!all) return all.error();
  std::lock_guard lock(data_mutex_);
  int running = 0;
  for (StoredPlanSession& stored : *all) {
    running += stored.record.ended ? 0 : 1;
    for (std::size_t i = 0; i < stored.record.parts.size(); ++i) {
      if (!stored.record.parts[i].session_id.empty()) parts_[stored.record.parts[i].session_id] = {stored.id, static_cast<int>(i)};
    }
    // A report written before the restart is written again: cheap, and never stale.
    reported_[stored.id] = false;
    sessions_[stored.id] = std::move(stored);
  }
  return running;
}

}  // namespace breakfix
