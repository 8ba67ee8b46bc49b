# ctest's check of the package (cmake -P): installs this build into a fresh prefix, then
# configures and builds examples/ against it with nothing but find_package(prfaas) and
# prfaas::prfaas.  The examples' runs are tests of their own (tests/CMakeLists.txt).
#   -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=...
file(REMOVE_RECURSE "${WORK_DIR}")
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: done")
endfunction()
step("cmake --install into ${WORK_DIR}/prefix"
     ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
step("configure examples/ with find_package(prfaas)"
     ${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
step("build the examples" ${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j2)
