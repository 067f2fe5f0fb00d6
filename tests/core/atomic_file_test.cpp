// The atomic writer's temp files: a name that says who wrote it, and the removal of the ones a
// dead writer left behind (never a live writer's).
#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/test_files.hpp"

namespace safetensors::detail {
namespace {

using safetensors::test::as_string;
using safetensors::test::read_all;
using safetensors::test::temp_dir;
using safetensors::test::write_all;

// A pid that no process has: a child that already exited and was reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

std::string temp_of(std::string_view target, pid_t pid) {
  return fmt::format(".{}.safetensors-cpp.{}.0-1f.tmp", target, pid);
}

void write_text(atomic_file& f, std::string_view text) {
  auto r = f.write(std::as_bytes(std::span(text)));
  ASSERT_TRUE(r) << r.error().message;
}

TEST(AtomicFile, TempNameNamesTheTargetAndTheWriter) {
  temp_dir dir;
  write_all(dir / "m.safetensors", "old");
  auto f = atomic_file::create(dir / "m.safetensors");
  ASSERT_TRUE(f) << f.error().message;
  const std::string name = f->temp_path().filename().string();
  const std::string head = fmt::format(".m.safetensors.safetensors-cpp.{}.", ::getpid());
  EXPECT_EQ(name.substr(0, head.size()), head) << name;
  EXPECT_TRUE(name.ends_with(".tmp")) << name;
  EXPECT_EQ(f->temp_path().parent_path(), dir.path());
  write_text(*f, "new");
  EXPECT_EQ(as_string(read_all(dir / "m.safetensors")), "old");  // untouched until commit
  ASSERT_TRUE(f->commit(false));
  EXPECT_EQ(as_string(read_all(dir / "m.safetensors")), "new");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"m.safetensors"});
}

TEST(AtomicFile, RemovesTheTempFileOfADeadWriter) {
  temp_dir dir;
  const auto stale = temp_of("m.safetensors", dead_pid());
  write_all(dir / stale, "half written");
  auto f = atomic_file::create(dir / "m.safetensors");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir / stale));
  ASSERT_TRUE(f->commit(false));
  EXPECT_EQ(dir.list(), std::vector<std::string>{"m.safetensors"});
}

TEST(AtomicFile, KeepsTheTempFileOfARunningWriter) {
  temp_dir dir;
  const auto live = temp_of("m.safetensors", ::getppid());  // our parent runs
  write_all(dir / live, "being written");
  auto f = atomic_file::create(dir / "m.safetensors");
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->commit(false));
  EXPECT_EQ(as_string(read_all(dir / live)), "being written");
}

TEST(AtomicFile, KeepsALockedTempFileWhosePidLooksDead) {
  // A writer this process cannot see by pid (another pid namespace) still holds its flock.
  temp_dir dir;
  const auto locked = temp_of("m.safetensors", dead_pid());
  write_all(dir / locked, "being written");
  const int fd = ::open((dir / locked).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  // flock conflicts between open file descriptions, also within one process.
  ASSERT_TRUE(atomic_file::create(dir / "m.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / locked));
  ::close(fd);  // the writer is gone: the next run cleans up
  ASSERT_TRUE(atomic_file::create(dir / "m.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / locked));
}

TEST(AtomicFile, LeavesOtherFilesAlone) {
  temp_dir dir;
  const pid_t dead = dead_pid();
  const std::vector<std::string> others = {
      temp_of("other.safetensors", dead),               // another target
      fmt::format(".m.safetensors.tmp-{}-0-1f", dead),  // not our naming
      fmt::format(".m.safetensors.safetensors-cpp.{}.0-1f.tmp.keep", dead),
      fmt::format(".m.safetensors.safetensors-cpp.x{}.0-1f.tmp", dead),  // no pid
      fmt::format("m.safetensors.safetensors-cpp.{}.0-1f.tmp", dead),    // not hidden
  };

  for (const auto& name : others) write_all(dir / name, "x");
  std::filesystem::create_directory(dir / temp_of("m.safetensors", dead));  // not a regular file
  ASSERT_TRUE(atomic_file::create(dir / "m.safetensors"));
  for (const auto& name : others) EXPECT_TRUE(std::filesystem::exists(dir / name)) << name;
  EXPECT_TRUE(std::filesystem::is_directory(dir / temp_of("m.safetensors", dead)));
}

TEST(AtomicFile, TwoWritersOfOneTargetInOneProcessKeepEachOthersFiles) {
  temp_dir dir;
  auto a = atomic_file::create(dir / "m.safetensors");
  auto b = atomic_file::create(dir / "m.safetensors");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->temp_path(), b->temp_path());
  write_text(*a, "a");
  write_text(*b, "b");
  ASSERT_TRUE(a->commit(false));
  ASSERT_TRUE(b->commit(false));
  EXPECT_EQ(as_string(read_all(dir / "m.safetensors")), "b");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"m.safetensors"});
}

TEST(AtomicFile, PreparedFilesStayLockedUntilPublished) {
  // prepare() closes the written descriptor; the lock must outlast it (a sharded write prepares
  // every shard before it publishes any).
  temp_dir dir;
  auto f = atomic_file::prepared_text(dir / "index.json", "{}", false);
  ASSERT_TRUE(f) << f.error().message;
  const int fd = ::open(f->temp_path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_TRUE(f->publish());
  EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // released with the rename
  ::close(fd);
  EXPECT_EQ(as_string(read_all(dir / "index.json")), "{}");
}

// The expected size bounds the buffer: the file goes out in blocks of that size (seen through
// on_written), and a wrong guess still gives the right bytes. Without a guess one 4 MiB buffer
// takes the whole small file.
TEST(AtomicFile, ExpectedSizeBoundsTheBufferAndIsOnlyAHint) {
  temp_dir dir;
  std::string text;
  for (int i = 0; i < 10000; ++i) text.push_back(static_cast<char>('a' + i % 26));
  for (const std::uint64_t expected :
       {std::uint64_t{0}, std::uint64_t{10}, std::uint64_t{10000}, std::uint64_t{64} << 20}) {
    auto f = atomic_file::create(dir / "m.bin");
    ASSERT_TRUE(f) << f.error().message;
    if (expected != 0) f->expect_size(expected);
    std::vector<std::uint64_t> flushed;
    f->on_written(
        [&](const std::filesystem::path&, std::uint64_t bytes) { flushed.push_back(bytes); });
    write_text(*f, std::string_view(text).substr(0, 3000));
    ASSERT_TRUE(f->fill(7000, [&](std::uint64_t at, std::span<std::byte> out) -> result<void> {
      std::memcpy(out.data(), text.data() + 3000 + at, out.size());
      return {};
    }));
    ASSERT_TRUE(f->commit(false));
    EXPECT_EQ(as_string(read_all(dir / "m.bin")), text) << expected;
    const std::vector<std::uint64_t> blocks = expected == 10
                                                  ? std::vector<std::uint64_t>{4096, 8192, 10000}
                                                  : std::vector<std::uint64_t>{10000};
    EXPECT_EQ(flushed, blocks) << expected;
  }
}

}  // namespace
}  // namespace safetensors::detail
