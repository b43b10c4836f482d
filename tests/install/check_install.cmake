# Installs the built library into a scratch prefix, then, without
# LD_LIBRARY_PATH or GPUDF_WORKER: runs the installed programs (gpudf-sweep,
# gpudf-demo, and a sweep whose worker is the installed libexec/gpudf one),
# and builds and runs a consumer through find_package(gpudf) and another
# through pkg-config, whose flags must name the prefix plainly.
# With -DPART=readme instead: compiles and runs every ```c block of
# README.md, docs/guide.md and docs/sweep.md against the installed tree, with the README's own command line
# (pkg-config, rpath), through tests/install/readme_blocks.py.
if(NOT PART)
  set(PART consumer)
endif()
set(prefix ${BIN}/install-check-${PART}/prefix)
set(cbuild ${BIN}/install-check-${PART}/consumer)
file(REMOVE_RECURSE ${BIN}/install-check-${PART})
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endmacro()
# What a user's shell has: none of the build's or the test harness's paths.
set(clean ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH --unset=GPUDF_WORKER)
run(${CMAKE_COMMAND} --install ${BIN} --prefix ${prefix})
if(PART STREQUAL "readme")
  find_program(PYTHON3 python3 REQUIRED)
  find_program(PKGCONFIG pkg-config REQUIRED)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig:${prefix}/lib64/pkgconfig")
  execute_process(COMMAND ${PKGCONFIG} --cflags --libs gpudf OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${PKGCONFIG} --variable=libdir gpudf OUTPUT_VARIABLE libdir
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  # The README's example and the longer ones that moved to docs/.
  foreach(doc README.md docs/guide.md docs/sweep.md)
    string(MAKE_C_IDENTIFIER ${doc} dir)
    run(${clean} ${PYTHON3} ${SRC}/tests/install/readme_blocks.py c ${SRC}/${doc}
        ${BIN}/install-check-${PART}/blocks-${dir} ${flags} -Wl,-rpath,${libdir})
    message(STATUS "${doc}: ${out}")
  endforeach()
  return()
endif()

run(${clean} ${prefix}/bin/gpudf-sweep --version)
if(NOT out MATCHES "gpudf-sweep 0\\.")
  message(FATAL_ERROR "installed gpudf-sweep --version printed: ${out}")
endif()
run(${clean} ${prefix}/bin/gpudf-demo 1000)
# Two workers: the library spawns libexec/gpudf/gpudf-worker, which must
# find libgpudf.so.0 on its own too (a worker that cannot start fails the
# sweep with exit status 3).
run(${clean} ${prefix}/bin/gpudf-sweep --synthetic 20000 --grid "fast=5:15:5 slow=20:40:10"
    --workers 2 --backend cpu --quiet --out -)
string(REGEX MATCHALL "\n[^\n]*,ok," okrows "\n${out}")
list(LENGTH okrows nok)
if(NOT nok EQUAL 4)
  message(FATAL_ERROR "installed sweep: expected 4 ok configs, got ${nok}:\n${out}\n${err}")
endif()

run(${CMAKE_COMMAND} -S ${SRC}/tests/install/consumer -B ${cbuild} -G ${GEN}
    -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${cbuild})
run(${clean} ${cbuild}/consumer)
if(NOT out MATCHES "gpudf 0\\.")
  message(FATAL_ERROR "consumer printed: ${out}")
endif()
# find_package(gpudf COMPONENTS mpi): gpudf::gpudf_mpi, when libgpudf_mpi was
# built; run as one rank (an MPI singleton; Open MPI wants to be told that
# root may run it).
file(GLOB mpi_targets ${prefix}/lib*/cmake/gpudf/gpudf_mpiTargets.cmake)
if(mpi_targets)
  run(${CMAKE_COMMAND} -S ${SRC}/tests/install/consumer_mpi -B ${cbuild}-mpi -G ${GEN}
      -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${cbuild}-mpi)
  run(${clean} OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
      GPUDF_SHM_DIR=${BIN}/install-check-${PART} ${cbuild}-mpi/consumer_mpi)
  if(NOT out MATCHES "counts 1 5 10")
    message(FATAL_ERROR "the MPI consumer printed: ${out}")
  endif()
  message(STATUS "find_package(gpudf COMPONENTS mpi) works: ${out}")
else()
  message(STATUS "no libgpudf_mpi installed (built without MPI): COMPONENTS mpi not checked")
endif()
# A component that does not exist fails find_package.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC}/tests/install/consumer -B ${cbuild}-nocomp
                -G ${GEN} -DCMAKE_PREFIX_PATH=${prefix} -DGPUDF_COMPONENTS=no_such_part
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "no component 'no_such_part'")
  message(FATAL_ERROR "find_package(gpudf COMPONENTS no_such_part) did not fail plainly:\n${out}\n${err}")
endif()

# pkg-config, when the tool is there: the README's command line, with the
# rpath a prefix outside the loader's paths needs.
find_program(PKGCONFIG pkg-config)
if(PKGCONFIG)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig:${prefix}/lib64/pkgconfig")
  execute_process(COMMAND ${PKGCONFIG} --cflags --libs gpudf OUTPUT_VARIABLE flags
                  RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config cannot find gpudf")
  endif()
  execute_process(COMMAND ${PKGCONFIG} --variable=libdir gpudf OUTPUT_VARIABLE libdir
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(FIND " ${flags} " " -I${prefix}/include " has_inc)
  string(FIND "${flags}" "/../" has_dots)
  if(has_inc EQUAL -1 OR NOT has_dots EQUAL -1
     OR NOT (libdir STREQUAL "${prefix}/lib" OR libdir STREQUAL "${prefix}/lib64"))
    message(FATAL_ERROR "pkg-config gives unclean paths: '${flags}', libdir '${libdir}'")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(cc -o ${cbuild}/consumer-pc ${SRC}/tests/install/consumer/main.c ${flags}
      -Wl,-rpath,${libdir})
  run(${clean} ${cbuild}/consumer-pc)
endif()
message(STATUS "installed package works: ${out}")
