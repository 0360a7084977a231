"""The demo's words: names of places and people, topics, and what is said and written.

Fixed lists that the county's plan and the lifecycles draw from with their seeded ``random``;
nothing here is random itself, so the same seed gives the same words.
"""

from __future__ import annotations

from typing import Final

from events.common import RoomLevel
from events.consultation import ResearchMethod, Stance
from events.outcome import EscalationCategory, EscalationLevel, FeedbackChannel, PublicityChannel

# --- places and people (the county's plan) -------------------------------------------------------

SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN: Final = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉"
    "兰萍红建国志文斌海燕春梅鹏辉晨宇浩然欣怡佳琪思远雨桐德福珍淑"
)

COUNTIES: Final = ("清河县", "安平县", "永宁县", "丰源县", "临江县", "宁远县", "长乐县", "嘉禾县")
TOWN_PREFIXES: Final = (
    "柳溪", "石桥", "青山", "白马", "桃源", "长岭", "双河", "金沙", "新丰", "永安",
    "龙泉", "凤岗", "梅林", "松江", "兴隆", "和平", "云台", "东湖", "西塘", "南湾",
    "北港", "清泉", "杏花", "莲塘", "古城", "平安", "太平", "富民", "丰乐", "仁和",
)  # fmt: skip
VILLAGE_FIRST: Final = "东西南北前后上下大小新老"
VILLAGE_SURNAME: Final = "王李张刘陈杨黄赵吴周"
VILLAGE_PLACE: Final = "庄湾塘桥岗坝坪圩营集"
COMMUNITY_NAMES: Final = (
    "幸福", "和谐", "阳光", "锦绣", "翠苑", "滨江", "书香", "光明", "振兴", "文昌", "康乐", "春晖",
)  # fmt: skip
ENTERPRISE_TRADES: Final = ("纺织", "机械", "食品", "新材料", "电子", "制药", "物流", "包装")
UNIT_KINDS: Final = ("建设办", "农业农村办", "社会事业办", "综合执法局", "财政所", "卫生院")

TOWN_TOPICS: Final = (
    ("集镇农贸市场改造提升", "市场设施老化，雨天积水，摊位占道经营"),
    ("镇区停车难问题治理", "集镇主街早晚高峰车辆乱停，影响通行"),
    ("农村生活污水治理", "部分自然村生活污水直排沟渠"),
    ("高标准农田建设", "灌排设施不配套，田块零碎"),
    ("镇养老服务中心建设", "留守老人多，日间照料缺口大"),
    ("河道综合整治", "河道淤积、岸坡垮塌，汛期隐患多"),
    ("中小学校门口交通拥堵", "上下学时段接送车辆堵塞路口"),
    ("乡村旅游发展规划", "景点分散，缺少统一规划和配套"),
    ("农村公路养护", "部分村道破损，养护资金不足"),
    ("集中供水管网改造", "管网老化，夏季用水高峰水压不足"),
    ("背街小巷路灯亮化", "夜间照明不足，群众出行不便"),
    ("电动自行车充电设施建设", "飞线充电多，消防隐患突出"),
)  # fmt: skip
VILLAGE_TOPICS: Final = (
    ("村道硬化拓宽", "村内主干道狭窄，会车困难"),
    ("人居环境整治", "房前屋后杂物乱堆，旱厕改造未完成"),
    ("村集体经济发展项目选择", "集体收入薄弱，需确定发展项目"),
    ("移风易俗红白理事会章程", "婚丧事大操大办，群众负担重"),
    ("灌溉水渠修缮", "水渠渗漏，下游农田灌溉困难"),
    ("村卫生室搬迁", "卫生室房屋老旧，位置偏远"),
    ("村文化广场建设", "群众缺少文体活动场地"),
    ("秸秆综合利用", "秸秆禁烧后处置渠道不足"),
)  # fmt: skip
COMMUNITY_TOPICS: Final = (
    ("老旧小区加装电梯", "老年住户上下楼困难，低层住户有顾虑"),
    ("小区停车位规划", "车位紧张，消防通道被占"),
    ("物业服务质量提升", "物业费收缴率低，服务投诉多"),
    ("垃圾分类投放点设置", "投放点位置有争议，定时定点执行难"),
    ("社区食堂建设", "独居老人就餐难"),
    ("楼道杂物清理", "楼道堆物堵塞疏散通道"),
    ("小区充电桩安装", "电动汽车增多，充电设施不足"),
    ("社区养老驿站", "居家养老服务缺少场地"),
)  # fmt: skip
ENTERPRISE_TOPICS: Final = (
    ("员工通勤班车线路", "倒班职工上下班交通不便"),
    ("职工食堂改善", "就餐时间集中，菜品单一"),
    ("安全生产培训制度", "新入职员工安全培训流于形式"),
    ("厂区周边道路拥堵", "货车进出与周边村民出行冲突"),
    ("外来务工人员子女入学", "随迁子女就近入学名额紧张"),
    ("企业与周边村庄排水纠纷", "雨季厂区排水影响邻近农田"),
)  # fmt: skip
TOPICS_BY_LEVEL: Final[dict[RoomLevel, tuple[tuple[str, str], ...]]] = {
    "town": TOWN_TOPICS,
    "village": VILLAGE_TOPICS,
    "community": COMMUNITY_TOPICS,
    "enterprise": ENTERPRISE_TOPICS,
}

ESCALATIONS: Final[tuple[tuple[EscalationCategory, EscalationLevel, str], ...]] = (
    ("beyond_authority", "county", "涉及跨镇水系调度，超出本级职权，建议县级统筹"),
    ("emerging_problem", "county", "同类问题在多个村(社区)出现，带有苗头性"),
    ("actionable_suggestion", "county", "试点做法可在全县推广"),
    ("constructive_opinion", "city", "建议市级出台配套资金支持政策"),
    ("overall_situation", "city", "事关区域发展全局，建议纳入市级规划"),
)

# --- what is said and written (the lifecycles) ---------------------------------------------------

RESEARCH: Final[tuple[tuple[ResearchMethod, str], ...]] = (
    ("site_visit", "实地察看现场，拍照记录问题点位"),
    ("survey", "发放问卷，收回有效问卷若干份"),
    ("interview", "入户走访群众，听取意见建议"),
    ("symposium", "召开座谈会，相关部门和群众代表参加"),
    ("document_review", "查阅政策文件和历年台账"),
)
OPINIONS: Final[tuple[tuple[Stance, str], ...]] = (
    ("support", "赞成方案，希望尽快实施"),
    ("support", "这是群众盼了多年的事，支持"),
    ("suggestion", "建议分期实施，先易后难"),
    ("suggestion", "建议公开资金使用情况，接受群众监督"),
    ("suggestion", "建议明确后期管护责任"),
    ("neutral", "方案可以，但要考虑后期维护费用"),
    ("oppose", "担心影响采光和通行，暂不同意"),
    ("oppose", "费用分摊方式不合理"),
)
REJECT_REASONS: Final = (
    "不属于本级事权范围，建议向有关部门反映",
    "已列入上级统一规划，暂不单独协商",
    "涉及法律诉讼，不宜协商",
)
WITHDRAW_REASONS: Final = ("问题已由职能部门解决", "提议人撤回，待条件成熟再议")
STALL_CAUSES: Final = (
    "配套资金未到位，工程停工",
    "部分群众不同意施工方案，协调未果",
    "涉及用地手续，审批时间超出预期",
)
FEEDBACK: Final[tuple[tuple[FeedbackChannel, str], ...]] = (
    ("meeting", "召开群众会通报协商成果运用情况"),
    ("notice_board", "在公开栏张贴办理结果"),
    ("wechat", "在村(社区)微信群通报办理情况"),
    ("door_to_door", "逐户上门反馈办理结果"),
    ("app", "通过掌上履职平台反馈"),
)
PUBLICITY: Final[tuple[PublicityChannel, ...]] = (
    "notice_board",
    "wechat",
    "website",
    "meeting",
    "app",
)
