// fmt's compiled part, built once for the whole program.
//
// Debian ships fmt as a shared library only, and build/triage must link statically, so the project
// used fmt's header-only mode: every file that formatted anything compiled fmt's whole
// implementation again (about 4 s of compile time per file, most of a clean build). Without
// FMT_HEADER_ONLY the headers only declare that implementation; this file defines it, once.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
// The locale-dependent helpers format.h declares as extern templates.
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto thousands_sep_impl<wchar_t>(locale_ref) -> thousands_sep_result<wchar_t>;
template auto decimal_point_impl(locale_ref) -> char;
template auto decimal_point_impl(locale_ref) -> wchar_t;
template void vformat_to(buffer<char>&, string_view, basic_format_args<buffer_context<char>>, locale_ref);
}  // namespace detail
FMT_END_NAMESPACE
