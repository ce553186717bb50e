// `breakfix report compare ID...`: fetches each graded session's report from the daemon
// and prints them side by side (report_compare.h), as a table or CSV.

#include <iostream>
#include <memory>

#include "cli/api_call.h"
#include "cli/report_compare.h"
#include "cli/runtime_commands.h"
#include "cli/table.h"

namespace breakfix::cli {

void add_report_commands(CLI::App& app, int& exit_code) {
  CLI::App* report = app.add_subcommand("report", "Work with graded sessions' reports");
  report->require_subcommand(1);
  auto connection = std::make_shared<Connection>();
  auto ids = std::make_shared<std::vector<std::string>>();
  auto format = std::make_shared<std::string>("table");
  CLI::App* compare = report->add_subcommand(
      "compare", "Put several candidates' reports of one scenario side by side: score, time to each fix, rubric");
  compare->add_option("ids", *ids, "Session ids (two or more; graded)")->required()->expected(1, -1);
  compare->add_option("-o,--output", *format, "table, or csv for a spreadsheet")
      ->check(CLI::IsMember({"table", "csv"}))
      ->capture_default_str();
  connection->add_to(compare, false);
  compare->callback([connection, ids, format, &exit_code] {
    std::vector<nlohmann::json> reports;
    for (const std::string& id : *ids) {
      Call fetched = call(*connection, "GET", "/v1/sessions/" + id + "/report?format=json");
      if (!fetched.ok()) {
        exit_code = fetched.exit_code;
        return;
      }
      reports.push_back(fetched.body);
    }
    auto compared = compare_reports(reports);
    if (!compared) {
      std::cerr << "breakfix: " << compared.error().message << "\n";
      exit_code = kExitFailure;
      return;
    }
    if (*format == "csv") {
      std::cout << to_csv(*compared);
      return;
    }
    Table table(compared->headers);
    for (auto& row : compared->rows) table.add_row(row);
    std::cout << table.render();
  });
}

}  // namespace breakfix::cli
