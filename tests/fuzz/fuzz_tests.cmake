# The fuzz harnesses in ctest (tests/fuzz/README.md); included by tests/CMakeLists.txt.
#
# Two kinds of test per harness:
#   fuzz_replay_NAME  the harness, built by this build's compiler with a plain
#                     main (replay_main.cpp), runs every committed input of
#                     corpus/NAME/ once: always, in every build (in the asan
#                     tree under its sanitizers), with or without clang.
#   fuzz_NAME         the harness built with clang's libFuzzer, ASan and UBSan
#                     (the sub-build tests/fuzz/CMakeLists.txt), fuzzing for
#                     ATTN_FUZZ_SECONDS from the same corpus. Only where a
#                     clang with libFuzzer is found, and not in an
#                     ATTN_SANITIZE tree: the harnesses carry their own
#                     sanitizers, so there they would only repeat the release
#                     tree's run.
# Both carry the label "fuzz": ctest -L fuzz runs them alone, -LE fuzz skips them.
# test_fuzz_findings (GoogleTest) says in words what each finding was.
set(ATTN_FUZZ_HARNESSES safetensors model_metadata vocab json tsv parallel tokenizer metrics)
set(ATTN_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

foreach(name ${ATTN_FUZZ_HARNESSES})
  add_executable(fuzz_replay_${name} fuzz/replay_main.cpp fuzz/fuzz_${name}.cpp)
  target_link_libraries(fuzz_replay_${name} PRIVATE attn)
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} ${ATTN_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz)
endforeach()

# Each finding in words, with the message the reader now gives.
attn_test(test_fuzz_findings fuzz/test_fuzz_findings.cpp)

# --- libFuzzer: a clang that links -fsanitize=fuzzer ---
set(ATTN_FUZZ_SECONDS 15 CACHE STRING
  "Seconds each fuzz_NAME ctest fuzzes (scripts/fuzz runs longer)")
set(ATTN_FUZZ_BUILD OFF)
if(ATTN_FUZZ AND NOT ATTN_SANITIZE)
  find_program(ATTN_FUZZ_CLANG NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16
    clang++-15 clang++-14 DOC "clang++ for the libFuzzer harnesses (tests/fuzz)")
  # Compiling and linking a one-line harness is the only sure test: clang is
  # often installed without libFuzzer's runtime (Debian's libclang-rt-NN-dev).
  # A direct compile rather than try_compile, which would probe with g++, this
  # project's compiler. Probed once per clang path.
  if(ATTN_FUZZ_CLANG AND NOT ATTN_FUZZ_PROBED STREQUAL ATTN_FUZZ_CLANG)
    set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/fuzz-probe)
    file(WRITE ${probe_dir}/probe.cpp
      "#include <cstddef>\n#include <cstdint>\n"
      "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
    execute_process(
      COMMAND ${ATTN_FUZZ_CLANG} -fsanitize=fuzzer,address,undefined ${probe_dir}/probe.cpp
              -o ${probe_dir}/probe
      RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
    if(probe_result EQUAL 0)
      set(works ON)
    else()
      set(works OFF)
    endif()
    set(ATTN_FUZZ_CLANG_WORKS ${works} CACHE INTERNAL "")
    set(ATTN_FUZZ_PROBED ${ATTN_FUZZ_CLANG} CACHE INTERNAL "")
  endif()
  if(ATTN_FUZZ_CLANG AND ATTN_FUZZ_CLANG_WORKS)
    set(ATTN_FUZZ_BUILD ON)
  endif()
endif()

if(NOT ATTN_FUZZ)
  message(STATUS "attn: fuzz harnesses: off (-DATTN_FUZZ=OFF); their corpus replays still run")
elseif(ATTN_SANITIZE)
  message(STATUS "attn: fuzz harnesses: off in a sanitizer tree (the release tree runs them)")
elseif(NOT ATTN_FUZZ_BUILD)
  message(STATUS "attn: fuzz harnesses: off (no clang with libFuzzer; scripts/install-deps "
                 "installs clang and libclang-rt-dev); their corpus replays still run")
else()
  message(STATUS
    "attn: fuzz harnesses: on (${ATTN_FUZZ_CLANG}, ${ATTN_FUZZ_SECONDS} s each in ctest)")
endif()
if(NOT ATTN_FUZZ_BUILD)
  return()
endif()

include(ExternalProject)
set(ATTN_FUZZ_BINARY_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz-build)
ExternalProject_Add(attn_fuzz
  SOURCE_DIR ${ATTN_FUZZ_DIR}
  BINARY_DIR ${ATTN_FUZZ_BINARY_DIR}
  # CMAKE_CACHE_ARGS, not CMAKE_ARGS: the lists (harnesses, BLAS libraries) pass intact.
  CMAKE_CACHE_ARGS
    -DCMAKE_CXX_COMPILER:FILEPATH=${ATTN_FUZZ_CLANG}
    -DCMAKE_BUILD_TYPE:STRING=
    -DCMAKE_CXX_COMPILER_LAUNCHER:STRING=${CMAKE_CXX_COMPILER_LAUNCHER}
    -DATTN_SOURCE_DIR:PATH=${PROJECT_SOURCE_DIR}
    -DATTN_CBLAS_INCLUDE_DIR:PATH=${ATTN_CBLAS_INCLUDE_DIR}
    -DATTN_BLAS_LIBRARIES:STRING=${BLAS_LIBRARIES}
    -DATTN_FUZZ_HARNESSES:STRING=${ATTN_FUZZ_HARNESSES}
  BUILD_ALWAYS ON  # its own make decides what changed in the sources
  INSTALL_COMMAND "")

foreach(name ${ATTN_FUZZ_HARNESSES})
  set(dict ${ATTN_FUZZ_DIR}/${name}.dict)
  if(NOT EXISTS ${dict})
    set(dict "")
  endif()
  add_test(NAME fuzz_${name}
    COMMAND bash ${ATTN_FUZZ_DIR}/run_fuzzer.sh ${ATTN_FUZZ_BINARY_DIR}/fuzz_${name}
            ${ATTN_FUZZ_SECONDS} ${ATTN_FUZZ_DIR}/corpus/${name}
            ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work/${name} ${dict})
  # The fuzzing time, plus the start (ASan's shadow memory) and the seeds.
  math(EXPR limit "${ATTN_FUZZ_SECONDS} + 120")
  # A fixed seed: the same ctest run explores the same inputs each time, so a
  # finding reproduces and a test run does not pass or fail by chance
  # (scripts/fuzz, the long run, draws a new seed each time).
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT ${limit}
                       ENVIRONMENT ATTN_FUZZ_SEED=1)
endforeach()
