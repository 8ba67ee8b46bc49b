# The code's layers, checked from its includes (cmake -P, SOURCE_DIR set): each folder includes
# only what lies below it.  A violation names the file and the include.
#
#   kernels/           nothing of the project but kernels/ and runtime/common
#   runtime/           never CAF (actors/ turn messages into calls of runtime/ code)
#   runtime/kv/        never the model or the engine: it knows a KV layout (kv/kv_layout.h)
#   runtime/transport  never the model or the engine: it moves a layout's bytes
#   runtime/config/    never the engine
set(rules
  "kernels @ #include [<\"]caf/"
  "kernels @ #include \"(actors|apps|runtime/(model|engine|kv|transport|sched|config))/"
  "runtime @ #include [<\"]caf/"
  "runtime/kv @ #include \"runtime/(model|engine)/"
  "runtime/transport @ #include \"runtime/(model|engine)/"
  "runtime/config @ #include \"runtime/engine/")
set(broken "")
foreach(rule IN LISTS rules)
  string(FIND "${rule}" " @ " at)
  string(SUBSTRING "${rule}" 0 ${at} folder)
  math(EXPR from "${at} + 3")
  string(SUBSTRING "${rule}" ${from} -1 pattern)
  file(GLOB_RECURSE sources "${SOURCE_DIR}/${folder}/*.h" "${SOURCE_DIR}/${folder}/*.cpp" "${SOURCE_DIR}/${folder}/*.cu")
  foreach(source IN LISTS sources)
    file(STRINGS "${source}" hits REGEX "${pattern}")
    foreach(hit IN LISTS hits)
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${source}")
      string(APPEND broken "\n  ${rel}: ${hit}  (${folder}/ must not include this)")
    endforeach()
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "layer rules broken:${broken}")
endif()
