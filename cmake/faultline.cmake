# Helpers that give every folder the same shape: one library target per folder,
# tests beside the code, registered with CTest through gtest_discover_tests.

set(FAULTLINE_WARNINGS -Wall -Wextra -Wno-unused-parameter)

# Unity builds: each library's sources are compiled a few at a time as one
# translation unit. Most of a Faultline source's compile time is the headers
# it shares with its neighbours (gRPC, protobuf, abseil, spdlog) and the
# templates they instantiate; four agent/faults sources took 145 s one by one
# and 75 s as one unit. CI builds from scratch on two cores, so this is what
# keeps it inside its time budget. Names at namespace scope in a .cc file
# (anonymous namespaces included) must therefore be unique within a library.
option(FAULTLINE_UNITY "Compile each library's sources as unity batches" ON)

# faultline_cc_library(NAME name SRCS a.cc ... [HDRS ...] DEPS target ...)
function(faultline_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  if(ARG_SRCS)
    add_library(${ARG_NAME} STATIC ${ARG_SRCS} ${ARG_HDRS})
    target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
    target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${ARG_NAME} PRIVATE ${FAULTLINE_WARNINGS}
                           $<$<BOOL:${FAULTLINE_WERROR}>:-Werror>)
    if(FAULTLINE_UNITY)
      set_target_properties(${ARG_NAME} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
    endif()
  else()
    add_library(${ARG_NAME} INTERFACE ${ARG_HDRS})
    target_link_libraries(${ARG_NAME} INTERFACE ${ARG_DEPS})
    target_include_directories(${ARG_NAME} INTERFACE ${PROJECT_SOURCE_DIR})
  endif()
endfunction()

# faultline_cc_binary(NAME name SRCS main.cc DEPS ...)
function(faultline_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${ARG_NAME} PRIVATE ${FAULTLINE_WARNINGS}
                         $<$<BOOL:${FAULTLINE_WERROR}>:-Werror>)
endfunction()

# faultline_cc_test(NAME name SRCS x_test.cc DEPS ... [LABELS privileged ...] [SERIAL])
# SERIAL: a unit test that measures timing against real processes (e.g. a
# real Prometheus) and so must not share the cores with another test.
# Tests labelled `privileged` need root (namespaces, cgroups, signals to real
# processes); `vm` ones boot a kernel under qemu. CI runs all of them as root.
function(faultline_cc_test)
  cmake_parse_arguments(ARG "SERIAL" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  # Test code is compiled without optimisation: gtest/gmock-heavy files
  # compile in less than half the time at -O0 (report_test.cc: 34 s -> 15 s),
  # and what a test measures runs in the libraries and agents, which keep the
  # build type's flags. Nor with debug info (review_test.cc: 21 s -> 18 s):
  # a failing test says what failed; the code under test keeps -g1.
  target_compile_options(${ARG_NAME} PRIVATE ${FAULTLINE_WARNINGS}
                         $<$<BOOL:${FAULTLINE_WERROR}>:-Werror> -O0 -g0)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(labels unit)
  set(run_serial FALSE)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  # Unit tests may run two at a time (scripts/test uses ctest -j2); every
  # other test measures CPU load, RSS, packet timing or throughput on this host
  # and runs alone (RUN_SERIAL).
  if(ARG_SERIAL OR NOT labels STREQUAL "unit")
    set(run_serial TRUE)
  endif()
  gtest_discover_tests(${ARG_NAME}
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    PROPERTIES LABELS "${labels}" TIMEOUT ${ARG_TIMEOUT} RUN_SERIAL ${run_serial}
    DISCOVERY_TIMEOUT 30)
endfunction()
