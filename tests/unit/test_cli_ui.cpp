// The address `trainctl ui` prints.
#include <catch2/catch.hpp>

#include "trainctl/cli/commands/ui.hpp"

using trainctl::cli::ui_login_address;

TEST_CASE("the login address puts the code in the fragment of the service's login page", "[cli][ui]") {
  CHECK(ui_login_address("http://127.0.0.1:8470", "0123abcd") ==
        "http://127.0.0.1:8470/ui/login#code=0123abcd");
  CHECK(ui_login_address("http://host.example:9000/", "ff") == "http://host.example:9000/ui/login#code=ff");
}
