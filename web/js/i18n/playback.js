// Texts of the Playback view.
export default {
  vi: {
    'pb.district': 'Quận/huyện', 'pb.site': 'Địa điểm', 'pb.all': 'tất cả', 'pb.cameras': 'Camera',
    'pb.name': 'tên', 'pb.status': 'trạng thái', 'pb.from': 'Từ', 'pb.to': 'Đến',
    'pb.show': 'Xem vùng ghi', 'pb.play': 'Phát', 'pb.export': 'Xuất đoạn phim', 'pb.snapshot': 'Ảnh chụp',
    'pb.live': 'Trực tiếp', 'pb.behind': 'trễ {s} s', 'pb.timeline': 'đoạn đã ghi (xanh) và khoảng trống',
    'pb.coverage': '{runs} đoạn ghi, {gaps} khoảng trống, {s} s đã ghi',
  },
  en: {
    'pb.district': 'District', 'pb.site': 'Site', 'pb.all': 'all', 'pb.cameras': 'Cameras',
    'pb.name': 'name', 'pb.status': 'status', 'pb.from': 'From', 'pb.to': 'To',
    'pb.show': 'Show coverage', 'pb.play': 'Play', 'pb.export': 'Export clip', 'pb.snapshot': 'Snapshot',
    'pb.live': 'Live', 'pb.behind': '{s} s behind', 'pb.timeline': 'recorded runs (green) and gaps',
    'pb.coverage': '{runs} run(s), {gaps} gap(s), {s} s recorded',
  },
};
