// Hostile or broken YAML is refused with its position, quickly,
// before the parser can be hurt by it.
#include <catch2/catch.hpp>
#include <string>

#include "trainctl/spec/yaml_document.hpp"
#include "trainctl/util/fs.hpp"

using trainctl::ErrorCode;
using trainctl::ErrorDetail;
using trainctl::spec::DocumentNode;
using trainctl::spec::parse_yaml_document;

namespace {

std::string fixture(const std::string& name) {
  return trainctl::util::read_file(std::string(TRAINCTL_SOURCE_DIR) + "/tests/data/specs/" + name)
      .value();
}

// The details of a parse that must fail.
std::vector<ErrorDetail> problems_of(const std::string& text,
                                     const std::string& file = "spec.yaml") {
  auto parsed = parse_yaml_document(text, file);
  REQUIRE_FALSE(parsed.has_value());
  REQUIRE(parsed.error().code == ErrorCode::invalid_spec);
  return parsed.error().details;
}

}  // namespace

TEST_CASE("A well-formed document keeps its values, order and positions", "[spec][yaml]") {
  GIVEN("a mapping with plain, quoted and block scalars") {
    const auto root = parse_yaml_document("b: 2.0\na: \"2\"\nc: |\n  text\nd:\n", "s.yaml");
    THEN("it parses into a tree that remembers where each value was written") {
      REQUIRE(root.has_value());
      REQUIRE(root->is_mapping());
      REQUIRE(root->entries.size() == 4);
      CHECK(root->entries[0].first.text == "b");
      CHECK(root->entries[0].second.text == "2.0");
      CHECK_FALSE(root->entries[0].second.quoted);
      CHECK(root->entries[1].second.quoted);
      CHECK(root->entries[1].second.mark.line == 2);
      CHECK(root->entries[1].second.mark.column == 4);
      CHECK(root->entries[2].second.text == "text\n");
      CHECK(root->entries[2].second.quoted);
      CHECK(root->entries[3].second.is_null());
      CHECK(root->entries[3].second.mark.file == "s.yaml");
    }
  }
  GIVEN("an empty text") {
    THEN("the document is null") {
      CHECK(parse_yaml_document("", "s.yaml")->is_null());
    }
  }
}

TEST_CASE("Malformed YAML is reported at its file, line and column (RELIABILITY 1)",
          "[spec][yaml]") {
  GIVEN("a spec indented with a tab") {
    const auto details = problems_of(fixture("tab_indent.yaml"), "tab_indent.yaml");
    THEN("the error points at the tab") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].file == "tab_indent.yaml");
      CHECK(details[0].line == 3);
      CHECK(details[0].column == 1);
      CHECK_THAT(details[0].message, Catch::Contains("tab"));
      CHECK(details[0].to_string().starts_with("tab_indent.yaml:3:1: "));
    }
  }
  GIVEN("a quote that is never closed") {
    const auto details = problems_of(fixture("unclosed_quote.yaml"));
    THEN("the error points at the opening quote") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].line == 3);
      CHECK(details[0].column == 17);
      CHECK_THAT(details[0].message, Catch::Contains("never closed"));
    }
  }
  GIVEN("a structure the parser refuses") {
    const auto details = problems_of("a: [1, 2\nb: 3\n");
    THEN("the parser's own position is given, 1-based") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].line >= 1);
      CHECK(details[0].column >= 1);
      CHECK_THAT(details[0].message, Catch::StartsWith("malformed YAML"));
    }
  }
  GIVEN("bytes that are not UTF-8 (a Latin-1 'é' in a comment)") {
    const auto details = problems_of("experiment: e\nname: x  # caf\xe9\n");
    THEN("the byte is named at its line and column, and the fix") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].line == 2);
      CHECK(details[0].column == 15);
      CHECK_THAT(details[0].message, Catch::Contains("not UTF-8") && Catch::Contains("save it as UTF-8"));
    }
  }
  GIVEN("an unclosed flow sequence") {
    const auto details = problems_of("a: [1, 2\nb: 3\n");
    THEN("the message says what the parser was reading, and where that began") {
      REQUIRE(details.size() == 1);
      CHECK_THAT(details[0].message,
                 Catch::Contains("flow sequence") && Catch::Contains("line 1, column 4"));
    }
  }
  GIVEN("quotes and brackets inside comments, other quotes and block scalars") {
    const std::string text =
        "a: it's fine # don't [ count \"this\n"
        "b: 'say \"hi\" [['\n"
        "c: |\n"
        "  unbalanced \" and [[[[ and '\n"
        "d: [x, \"]\", {e: f}]\n";
    THEN("they neither open strings nor nest") {
      CHECK(parse_yaml_document(text, "s.yaml").has_value());
    }
  }
  GIVEN("Windows line endings and a block scalar in a sequence") {
    const std::string text = "a:\r\n- |\r\n  \"text\r\n- [b]\r\n";
    THEN("the document parses") {
      CHECK(parse_yaml_document(text, "s.yaml").has_value());
    }
  }
  GIVEN("a quote left open inside a flow list") {
    const auto details = problems_of("a: [x, 'y, z]\nb: 1\n");
    THEN("the opening quote is named") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].line == 1);
      CHECK(details[0].column == 8);
    }
  }
}

TEST_CASE("Aliases, anchors and deep nesting are refused cheaply (RELIABILITY 6)", "[spec][yaml]") {
  GIVEN("the billion laughs") {
    const auto details = problems_of(fixture("billion_laughs.yaml"));
    THEN("every anchor and alias is an error and nothing is expanded") {
      CHECK(details.size() > 9);
      CHECK(details[0].line == 1);
      CHECK(details[0].column == 4);
      CHECK_THAT(details[0].message, Catch::Contains("anchors"));
      CHECK(details[1].path == "b");
      CHECK_THAT(details[2].message, Catch::Contains("aliases"));
      CHECK(details[2].path == "b[0]");
      CHECK(details[2].column == 8);
    }
  }
  GIVEN("100,000 nested '['") {
    const auto details = problems_of("a: " + std::string(100'000, '['));
    THEN("the pre-scan stops at the limit, at the bracket that passes it") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].line == 1);
      CHECK(details[0].column == 4 + 63);
      CHECK_THAT(details[0].message, Catch::Contains("deeper than 64"));
    }
  }
  GIVEN("deeply nested block sequences on one line") {
    std::string text;
    for (int i = 0; i < 50'000; ++i) text += "- ";
    text += "x\n";
    THEN("they are refused too") {
      CHECK_THAT(problems_of(text)[0].message, Catch::Contains("deeper than 64"));
    }
  }
  GIVEN("deeply indented mappings") {
    std::string text;
    for (int i = 0; i < 70; ++i) text += std::string(static_cast<size_t>(i), ' ') + "k:\n";
    THEN("they are refused at the line that passes the limit") {
      const auto details = problems_of(text);
      CHECK(details[0].line == 65);
    }
  }
  GIVEN("nesting right at the limit") {
    THEN("it is accepted") {
      CHECK(parse_yaml_document("a: " + std::string(63, '[') + std::string(63, ']'), "s")
                .has_value());
    }
  }
}

TEST_CASE("Oversized specs and values are refused with the limit named (RELIABILITY 7)",
          "[spec][yaml]") {
  GIVEN("a 10 MB spec") {
    const auto details = problems_of("a: " + std::string(10'000'000, 'x'));
    THEN("the size limit refuses it before parsing") {
      REQUIRE(details.size() == 1);
      CHECK_THAT(details[0].message, Catch::Contains("limited to 1 MiB"));
    }
  }
  GIVEN("a 100 KiB scalar in a small enough spec") {
    const auto details = problems_of("a: ok\nb: " + std::string(100 * 1024, 'x') + "\n");
    THEN("the scalar limit names the field and the limit") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].path == "b");
      CHECK(details[0].line == 2);
      CHECK_THAT(details[0].message, Catch::Contains("limited to 64 KiB"));
    }
  }
}

TEST_CASE("Duplicate keys, explicit tags and extra documents are errors (RELIABILITY 8)",
          "[spec][yaml]") {
  GIVEN("keys written twice at two levels") {
    const auto details = problems_of(fixture("duplicate_keys.yaml"));
    THEN("each repetition is reported where it is written") {
      REQUIRE(details.size() == 2);
      CHECK(details[0].path == "estimator.node_count");
      CHECK(details[0].line == 5);
      CHECK(details[0].column == 3);
      CHECK(details[1].path == "experiment");
      CHECK(details[1].line == 6);
    }
  }
  GIVEN("a python object tag") {
    const auto details = problems_of(fixture("python_object_tag.yaml"));
    THEN("the tag is refused") {
      REQUIRE(details.size() == 1);
      CHECK(details[0].path == "estimator");
      CHECK(details[0].line == 2);
      CHECK_THAT(details[0].message, Catch::Contains("python/object"));
    }
  }
  GIVEN("a custom tag on a scalar") {
    THEN("it is refused") {
      CHECK(problems_of("a: !foo bar\n")[0].path == "a");
    }
  }
  GIVEN("two documents") {
    const auto details = problems_of("a: 1\n---\nb: 2\n");
    THEN("the second is refused") {
      REQUIRE(details.size() == 1);
      CHECK_THAT(details[0].message, Catch::Contains("one YAML document"));
    }
  }
}

// RELIABILITY 43 (issue's item 17): a NUL byte is reported where it is, not where the parser
// stumbles later.
TEST_CASE("A NUL or control byte is reported at its own line and column", "[spec][yaml]") {
  GIVEN("a NUL alone on line 5, column 3") {
    const auto problems =
        problems_of(std::string("experiment: e\nname: x\nestimator:\n  entry_script: t.py\n  \0\n", 58));
    THEN("the one problem names the NUL at 5:3") {
      REQUIRE(problems.size() == 1);
      CHECK(problems[0].line == 5);
      CHECK(problems[0].column == 3);
      CHECK_THAT(problems[0].message, Catch::Contains("NUL"));
    }
  }
  GIVEN("a bell character inside a value on line 2") {
    const auto problems = problems_of("a: 1\nb: x\ay\n");
    THEN("it is named at 2:5") {
      REQUIRE(problems.size() == 1);
      CHECK(problems[0].line == 2);
      CHECK(problems[0].column == 5);
      CHECK_THAT(problems[0].message, Catch::Contains("U+0007"));
    }
  }
  GIVEN("a line separator U+2028 in a comment, which a YAML 1.1 parser takes for a line break") {
    const auto problems = problems_of("a: 1\n# see\u2028more: text\nb: 2\n");
    THEN("it is named where it is, with the escape to write instead") {
      REQUIRE(problems.size() == 1);
      CHECK(problems[0].line == 2);
      CHECK(problems[0].column == 6);
      CHECK_THAT(problems[0].message, Catch::Contains("line separator U+2028") &&
                                          Catch::Contains("\"\\u2028\" in a double-quoted string"));
    }
  }
  GIVEN("DEL after three two-byte characters, NEL (U+0085) and the non-character U+FFFF") {
    THEN("each is named, at its column counted in characters") {
      const auto del = problems_of("a: 1\nb: \"\u00e9\u00e9\u00e9\x7f\"\n");
      REQUIRE(del.size() == 1);
      CHECK(del[0].column == 8);
      CHECK_THAT(del[0].message, Catch::Contains("U+007F"));
      CHECK_THAT(problems_of("a: x \u0085 y\n")[0].message, Catch::Contains("U+0085"));
      CHECK_THAT(problems_of("a: \"x\uffff\"\n")[0].message, Catch::Contains("non-character U+FFFF"));
    }
  }
}

// `submit FILE` parses its file once: a text that parse_yaml_stream counts as one document must be
// exactly one that parse_yaml_document takes, with the same node.
TEST_CASE("parse_yaml_stream counts every document, the empty ones too", "[spec][yaml]") {
  using trainctl::spec::parse_yaml_stream;
  GIVEN("one document, with or without a leading ---") {
    for (const std::string text : {"a: 1\n", "---\na: 1\n"}) {
      const auto stream = parse_yaml_stream(text, "job.yaml");
      REQUIRE(stream);
      CHECK(stream->count == 1);
      REQUIRE(stream->documents.size() == 1);
      REQUIRE(stream->documents[0].is_mapping());
      CHECK(stream->documents[0].entries.at(0).first.text == "a");
      CHECK(parse_yaml_document(text, "job.yaml"));
    }
  }
  GIVEN("one document and a trailing ---, which a single spec refuses") {
    const auto stream = parse_yaml_stream("a: 1\n---\n", "job.yaml");
    REQUIRE(stream);
    CHECK(stream->documents.size() == 1);
    CHECK(stream->count == 2);
    CHECK_FALSE(parse_yaml_document("a: 1\n---\n", "job.yaml"));
  }
  GIVEN("two documents") {
    const auto stream = parse_yaml_stream("a: 1\n---\nb: 2\n", "job.yaml");
    REQUIRE(stream);
    CHECK(stream->count == 2);
    CHECK(stream->documents.size() == 2);
  }
  GIVEN("an empty text") {
    const auto stream = parse_yaml_stream("", "job.yaml");
    REQUIRE(stream);
    CHECK(stream->count == 0);
    CHECK(stream->documents.empty());
  }
}
