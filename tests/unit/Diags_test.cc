// The debug tag set: parsing, switching at run time, and the check the command uses.
#include "iocore/eventsystem/Diags.h"

#include <gtest/gtest.h>

using namespace iocore;

namespace {
/// Restores the process's tags after a test.
struct TagsRestorer {
  std::string saved = debug_tags();
  ~TagsRestorer() { (void)set_debug_tags(saved); }
};

TEST(Diags, TagsAreSwitchedOnAndOffAtRunTime)
{
  TagsRestorer restore;
  ASSERT_TRUE(set_debug_tags(""));
  EXPECT_FALSE(is_debug_tag_enabled(DebugTag::kIocoreNet));
  EXPECT_EQ(debug_tags(), "");
  ASSERT_TRUE(set_debug_tags("socket, iocore_net"));
  EXPECT_TRUE(is_debug_tag_enabled(DebugTag::kIocoreNet));
  EXPECT_TRUE(is_debug_tag_enabled(DebugTag::kSocket));
  EXPECT_FALSE(is_debug_tag_enabled(DebugTag::kSsl));
  EXPECT_EQ(debug_tags(), "iocore_net,socket") << "canonical order, commas";
  ASSERT_TRUE(set_debug_tags("all"));
  for (uint32_t i = 0; i < static_cast<uint32_t>(DebugTag::kCount); ++i) {
    EXPECT_TRUE(is_debug_tag_enabled(static_cast<DebugTag>(i))) << debug_tag_name(static_cast<DebugTag>(i));
  }
  EXPECT_EQ(debug_tags(), "iocore_net,inactivity_cop,socket,ssl,accept,connect,event");
}

TEST(Diags, AnUnknownTagIsRefusedByNameAndChangesNothing)
{
  TagsRestorer restore;
  ASSERT_TRUE(set_debug_tags("ssl"));
  std::string error;
  EXPECT_FALSE(set_debug_tags("iocore_net,iocore_nte", &error));
  EXPECT_NE(error.find("iocore_nte"), std::string::npos) << error;
  EXPECT_EQ(debug_tags(), "ssl");
  EXPECT_FALSE(check_debug_tags("bogus"));
  EXPECT_TRUE(check_debug_tags("accept,connect"));
  EXPECT_EQ(debug_tags(), "ssl") << "check_debug_tags changes nothing";
}
} // namespace
