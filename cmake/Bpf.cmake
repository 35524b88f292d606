# BPF build: each bpf/<family>/<family>.bpf.c becomes an object (clang, CO-RE) and a bpftool
# skeleton header <family>.skel.h that the userspace loader includes. The compile emits a depfile,
# so editing any header the program includes (the family's ABI header, bpf/common, vmlinux.h)
# rebuilds the object and its skeleton.

find_program(BPF_CLANG NAMES clang clang-19 clang-16 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(BPF_ARCH_DEFINE -D__TARGET_ARCH_x86)
set(BPF_INCLUDES -I${PROJECT_SOURCE_DIR}/vmlinux -I${PROJECT_SOURCE_DIR}/bpf -I${PROJECT_SOURCE_DIR}/bpf/common)
set(BPF_SKEL_DIR ${PROJECT_BINARY_DIR}/skel)
file(MAKE_DIRECTORY ${BPF_SKEL_DIR})

# add_bpf_skeleton(<family> [<source>]): compiles bpf/<family>/<family>.bpf.c (or <source>) and
# defines target <family>_skel (an INTERFACE library whose include path holds <family>.skel.h).
function(add_bpf_skeleton family)
  set(src ${PROJECT_SOURCE_DIR}/bpf/${family}/${family}.bpf.c)
  if(ARGC GREATER 1)
    set(src ${ARGV1})
  endif()
  set(raw ${BPF_SKEL_DIR}/${family}.tmp.bpf.o)
  set(obj ${BPF_SKEL_DIR}/${family}.bpf.o)
  set(skel ${BPF_SKEL_DIR}/${family}.skel.h)
  add_custom_command(
    OUTPUT ${raw}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf ${BPF_ARCH_DEFINE} ${BPF_INCLUDES}
            -Wall -Wno-unused-function -MD -MF ${raw}.d -c ${src} -o ${raw}
    DEPFILE ${raw}.d
    DEPENDS ${src}
    COMMENT "BPF ${family}.bpf.c"
    VERBATIM)
  # `gen object` drops DWARF (BTF stays, CO-RE needs it) so the embedded object is small.
  add_custom_command(
    OUTPUT ${obj} ${skel}
    COMMAND ${BPFTOOL} gen object ${obj} ${raw}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${family}_bpf > ${skel}
    DEPENDS ${raw}
    COMMENT "skeleton ${family}.skel.h"
    VERBATIM)
  add_custom_target(${family}_skel_gen DEPENDS ${skel})
  add_library(${family}_skel INTERFACE)
  add_dependencies(${family}_skel ${family}_skel_gen)
  target_include_directories(${family}_skel INTERFACE ${BPF_SKEL_DIR})
endfunction()
