// The shell's texts: navigation, language and sign-in.
export default {
  vi: {
    'nav.wall': 'Màn hình giám sát', 'nav.playback': 'Xem lại', 'nav.investigate': 'Điều tra',
    'nav.admin': 'Quản trị', 'shell.token': 'mã truy cập', 'shell.soon': 'Đang xây dựng',
  },
  en: {
    'nav.wall': 'Video wall', 'nav.playback': 'Playback', 'nav.investigate': 'Investigations',
    'nav.admin': 'Administration', 'shell.token': 'access token', 'shell.soon': 'Under construction',
  },
};
