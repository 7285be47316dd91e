// The static trainctl's entry point: it maps the whole program image in two system calls before
// glibc starts, instead of taking a page fault for each piece of it the command touches.
//
// A short command touches code and data all over its 5 MB image: glibc's start-up and its ifunc
// resolvers, libstdc++'s locale set-up, CLI11, the spec reader, the HTTP client. Each first touch
// of a 64 KB stretch is a page fault, and on the VMs this runs on a fault costs 12-25 µs against
// 0.1-0.2 µs a page for the same pages mapped by one madvise(MADV_POPULATE_READ) (measured with
// a loop over a mapping of this binary). `trainctl submit` of a small project took 108 page
// faults; with the image mapped up front it takes 31 (the rest are the heap and the stack), and
// its CPU fell from 3.8 to 3.1 ms (bench/README.md, "The image mapped at entry").
//
// This runs before anything else in the process: no thread pointer, no stack protector canary,
// no errno, no libc. So it makes its system calls itself and touches nothing but the ELF program
// headers, which the kernel mapped with the image. A kernel older than 5.14 refuses the advice
// (EINVAL) and the command runs exactly as before.
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/syscall.h>

// The program's own ELF header, mapped at the start of its image (defined by the linker).
extern "C" const ElfW(Ehdr) __ehdr_start;

namespace {

constexpr unsigned long k_page = 4096;

// madvise(2) as a bare system call: errno does not exist yet. Failure changes nothing here.
void advise(unsigned long start, unsigned long end, long advice) {
  if (end <= start) return;
  long result = 0;
  register long unused_r10 asm("r10") = 0;
  asm volatile("syscall"
               : "=a"(result)
               : "0"(long{SYS_madvise}), "D"(start), "S"(end - start), "d"(advice), "r"(unused_r10)
               : "rcx", "r11", "memory");
  (void)result;
}

}  // namespace

// Maps every loadable segment: the read-only ones (headers, code, constants) readable, merged
// into one call when they are adjacent, and the writable one (data, then bss) writable, which
// also makes its private copy of each page now rather than at each first write. At entry the
// RELRO part is still writable: glibc protects it later in its start-up.
extern "C" __attribute__((used, no_stack_protector)) void trainctl_prefault_image() {
  const auto* headers = reinterpret_cast<const ElfW(Phdr)*>(
      reinterpret_cast<const char*>(&__ehdr_start) + __ehdr_start.e_phoff);
  unsigned long start = 0;
  unsigned long end = 0;
  for (int i = 0; i < __ehdr_start.e_phnum; ++i) {
    const ElfW(Phdr)& segment = headers[i];
    if (segment.p_type != PT_LOAD) continue;
    const unsigned long first = segment.p_vaddr & ~(k_page - 1);
    const unsigned long last = (segment.p_vaddr + segment.p_memsz + k_page - 1) & ~(k_page - 1);
    if ((segment.p_flags & PF_W) != 0) {
      advise(first, last, MADV_POPULATE_WRITE);
      continue;
    }
    if (first != end) {
      advise(start, end, MADV_POPULATE_READ);
      start = first;
    }
    end = last;
  }
  advise(start, end, MADV_POPULATE_READ);
}

// The entry point (linked with -e trainctl_entry): the kernel starts the process here with the
// stack holding argc, argv and the environment, and %rdx holding the function a dynamic loader
// would have registered for exit (none for a static program). Both go to glibc's _start as they
// came; %r12 is callee-saved, so it carries %rdx across the call.
asm(R"(
    .text
    .globl trainctl_entry
    .type trainctl_entry, @function
trainctl_entry:
    endbr64
    mov %rdx, %r12
    call trainctl_prefault_image
    mov %r12, %rdx
    jmp _start
    .size trainctl_entry, . - trainctl_entry
)");
