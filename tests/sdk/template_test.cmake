# template_test.cmake - installs the SDK component into a scratch prefix,
# then builds sdk/template out of tree twice, with find_package(TanomuSDK)
# and with make + pkg-config, and runs the template's unit test each time.
# Run by CTest as sdk_template:
#   cmake -DBUILD_DIR=.. -DTEMPLATE_DIR=.. -DWORK_DIR=.. -DLIBDIR=lib
#         -DCTEST=ctest [-DEXTRA_FLAGS=..] -P template_test.cmake
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

# Only what a plugin author gets: the installed SDK, no source tree.
function(check_exports so)
  find_program(NM nm REQUIRED)
  execute_process(COMMAND ${NM} -D --defined-only ${so} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  string(REGEX MATCHALL "[0-9a-f]+ T [A-Za-z_0-9]+" text "${syms}")
  if(NOT rc EQUAL 0 OR NOT text MATCHES " T tn_plugin_entry" OR text MATCHES " T ping")
    message(FATAL_ERROR "${so}: must export tn_plugin_entry and hide the rest:\n${syms}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component sdk)
foreach(f include/tanomu/tanomu.h include/tanomu/testkit.h ${LIBDIR}/libtanomu_testkit.a
          ${LIBDIR}/pkgconfig/tanomu-sdk.pc ${LIBDIR}/pkgconfig/tanomu-testkit.pc
          ${LIBDIR}/cmake/TanomuSDK/TanomuSDKConfig.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the SDK install lacks ${f}")
  endif()
endforeach()
if(EXISTS ${prefix}/bin)
  message(FATAL_ERROR "the sdk component installed the host too")
endif()

# 1. CMake, find_package(TanomuSDK)
set(cbuild ${WORK_DIR}/cmake-build)
run(${CMAKE_COMMAND} -S ${TEMPLATE_DIR} -B ${cbuild} -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_C_FLAGS=-Werror ${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${cbuild})
check_exports(${cbuild}/myplugin.so)
run(${CTEST} --test-dir ${cbuild} --output-on-failure)

# 2. make, pkg-config (the Makefile builds in place: work on a copy)
set(mbuild ${WORK_DIR}/make-build)
file(COPY ${TEMPLATE_DIR}/ DESTINATION ${mbuild})
run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig
    "CFLAGS=-O2 -g -Werror ${EXTRA_FLAGS}" "LDFLAGS=${EXTRA_FLAGS}"
    make -C ${mbuild} all test)
check_exports(${mbuild}/myplugin.so)
message(STATUS "template built and tested with CMake and with pkg-config")
